// Webcam mode: the preset network runs in the page with onnxruntime-web; frames never leave the browser.

const ORT_DIR = "/static/vendor/ort/";
const SIZE_LADDER = [160, 192, 224, 256, 320, 384, 480, 640];
const DEFAULT_SIZE = 320;
// Automatic working size: after ADAPT_FRAMES frames at one size, step down the ladder below SLOW_FPS and up above
// FAST_FPS (a step up costs at most 1.8x the time, so it never lands below SLOW_FPS: no oscillation).
const SLOW_FPS = 10;
const FAST_FPS = 20;
const ADAPT_FRAMES = 15;
const CAMERA_ENDED = "the camera stopped sending pictures (unplugged, switched off, or taken by another program).";
const SMOOTHING = 0.1; // exponential averages of the frame interval and the inference time

const $ = (id) => document.getElementById(id);

const stats = { frames: 0, fps: 0, inferenceMs: 0, workingSize: DEFAULT_SIZE, backend: null, threads: 1 };
window.painterlyWebcam = stats;

let modelUrl = null;
let session = null;
let ort = null;
let stream = null;
let running = false;
let loopId = 0; // a stopped loop may still await a frame: a restart must not revive it
let loopDone = Promise.resolve(); // the last loop's end: a new one starts only after it (one session.run at a time)
let wakeLoop = null; // resolves the frame the loop awaits: a stopped video shows no more frames
let framesAtSize = 0;
let lastFrameTime = 0;
let frameInterval = 0;
const video = document.createElement("video");
const grab = document.createElement("canvas");
const grabContext = grab.getContext("2d", { willReadFrequently: true });

export function setupWebcam({ presets, webcam_model: model }) {
  modelUrl = model;
  fillStyleSelects(presets);
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    // e.g. the studio opened by a LAN address over plain http: browsers give the camera only to https or localhost
    $("webcam-start").disabled = true;
    status("The camera needs a secure page: open the studio over https, or as http://localhost on this computer.", true);
    return;
  }
  $("webcam-start").addEventListener("click", () => start().catch(fail));
  $("webcam-stop").addEventListener("click", stop);
  $("webcam-snapshot").addEventListener("click", snapshot);
  $("webcam-style-2").addEventListener("change", (event) => {
    $("webcam-mix").disabled = event.target.value === "";
  });
  bindOutput("webcam-mix");
  bindOutput("webcam-strength");
  $("webcam-size").addEventListener("change", () => {
    const chosen = $("webcam-size").value;
    setWorkingSize(chosen === "auto" ? onLadder(stats.workingSize) : Number(chosen));
  });
}

function fillStyleSelects(presets) {
  const options = presets.map(({ name, index }) => new Option(name.replaceAll("_", " "), String(index)));
  $("webcam-style").replaceChildren(...options);
  $("webcam-style-2").append(...options.map((option) => option.cloneNode(true)));
}

function bindOutput(id) {
  const input = $(id);
  const show = () => { $(`${id}-value`).value = Number(input.value).toFixed(2); };
  input.addEventListener("input", show);
  show();
}

async function start() {
  if (running) return;
  $("webcam-start").disabled = true;
  await loopDone; // a quick Stop then Start: the stopped loop may still be inside session.run
  status("Loading the network…");
  session ??= await createSession();
  status("Asking for the camera…");
  stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
  });
  const track = stream.getVideoTracks()[0];
  if (track) track.onended = () => { if (stream?.getVideoTracks()[0] === track) fail(new Error(CAMERA_ENDED)); };
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play();
  running = true;
  $("webcam-canvas").hidden = false;
  resetTiming();
  $("webcam-stop").disabled = false;
  $("webcam-snapshot").disabled = false;
  status("Running.");
  loopDone = run(++loopId);
}

async function run(id) {
  try {
    try {
      await loop(id);
    } catch (error) {
      if (stats.backend !== "webgpu") throw error;
      console.warn("WebGPU inference failed, using WebAssembly", error);
      status("WebGPU failed: switching to WebAssembly…");
      const failed = session;
      session = null;
      await failed.release().catch((why) => console.warn("could not release the WebGPU session", why));
      session = await openSession("ort.wasm.min.mjs", "wasm");
      if (running && id === loopId) status("Running.");
      await loop(id);
    }
  } catch (error) {
    if (id === loopId) fail(error);
  }
}

function stop(reason = "Stopped.", isError = false) {
  running = false;
  wakeLoop?.();
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  video.srcObject = null;
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
  $("webcam-snapshot").disabled = true;
  $("webcam-info").textContent = "stopped";
  status(reason, isError);
}

function fail(error) {
  const message = error?.name === "NotAllowedError" ? "the camera permission was refused." : error?.message || error;
  stop(`Webcam stopped: ${message}`, true);
}

function status(text, isError = false) {
  const line = $("webcam-status");
  line.textContent = text;
  line.classList.toggle("warn", isError);
}

async function createSession() {
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (adapter) {
    try {
      return await openSession("ort.webgpu.min.mjs", "webgpu");
    } catch (error) {
      console.warn("WebGPU failed, using WebAssembly", error);
    }
  }
  return openSession("ort.wasm.min.mjs", "wasm");
}

async function openSession(entry, backend) {
  ort = await import(ORT_DIR + entry);
  ort.env.wasm.wasmPaths = ORT_DIR;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
  const created = await ort.InferenceSession.create(modelUrl, {
    executionProviders: [backend],
    graphOptimizationLevel: "all",
  });
  stats.backend = backend;
  stats.threads = ort.env.wasm.numThreads;
  return created;
}

async function loop(id) {
  const current = () => running && id === loopId;
  let frameShown = nextVideoFrame();
  while (current()) {
    await frameShown;
    if (!current()) break;
    // Armed before the work: when inference outlasts a camera frame, the next one is already waiting.
    frameShown = nextVideoFrame();
    await renderFrame();
    if (current()) countFrame();
  }
}

function nextVideoFrame() {
  return new Promise((resolve) => {
    wakeLoop = resolve;
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else requestAnimationFrame(() => resolve());
  });
}

async function renderFrame() {
  const [width, height] = workingDimensions();
  if (grab.width !== width || grab.height !== height) Object.assign(grab, { width, height });
  grabContext.drawImage(video, 0, 0, width, height);
  const frame = grabContext.getImageData(0, 0, width, height);
  const image = new ort.Tensor("float32", toPlanar(frame.data, width * height), [1, 3, height, width]);
  const weights = new ort.Tensor("float32", styleWeights(), [1, styleCount()]);
  const started = performance.now();
  const results = await session.run({ image, weights });
  try {
    stats.inferenceMs = smooth(stats.inferenceMs, performance.now() - started);
    const output = results[session.outputNames[0]];
    const [, , outHeight, outWidth] = output.dims;
    if (outHeight !== height || outWidth !== width) throw new Error(`unexpected output size ${outWidth}x${outHeight}`);
    draw(mixInto(frame, await output.getData(), Number($("webcam-strength").value)));
  } finally {
    for (const tensor of Object.values(results)) tensor.dispose?.(); // GPU buffers are not garbage-collected
  }
}

function workingDimensions() {
  const long = stats.workingSize;
  const scale = long / Math.max(video.videoWidth, video.videoHeight, 1);
  const even8 = (value) => Math.max(8, Math.round(value / 8) * 8);
  return [even8(video.videoWidth * scale), even8(video.videoHeight * scale)];
}

function toPlanar(rgba, pixels) {
  const planar = new Float32Array(3 * pixels);
  for (let i = 0, j = 0; i < pixels; i += 1, j += 4) {
    planar[i] = rgba[j] / 255;
    planar[i + pixels] = rgba[j + 1] / 255;
    planar[i + 2 * pixels] = rgba[j + 2] / 255;
  }
  return planar;
}

function mixInto(frame, stylised, strength) {
  const pixels = frame.width * frame.height;
  const rgba = frame.data;
  const keep = 1 - strength;
  for (let i = 0, j = 0; i < pixels; i += 1, j += 4) {
    rgba[j] = keep * rgba[j] + strength * 255 * stylised[i];
    rgba[j + 1] = keep * rgba[j + 1] + strength * 255 * stylised[i + pixels];
    rgba[j + 2] = keep * rgba[j + 2] + strength * 255 * stylised[i + 2 * pixels];
  }
  return frame;
}

function styleCount() {
  return $("webcam-style").options.length;
}

function styleWeights() {
  const weights = new Float32Array(styleCount());
  const first = Number($("webcam-style").value);
  const second = $("webcam-style-2").value;
  if (second === "") {
    weights[first] = 1;
  } else {
    const mix = Number($("webcam-mix").value);
    weights[first] += mix;
    weights[Number(second)] += 1 - mix;
  }
  return weights;
}

function draw(frame) {
  const canvas = $("webcam-canvas");
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    Object.assign(canvas, { width: frame.width, height: frame.height });
  }
  canvas.getContext("2d").putImageData(frame, 0, 0);
}

function countFrame() {
  const now = performance.now();
  if (lastFrameTime) {
    frameInterval = smooth(frameInterval, now - lastFrameTime);
    stats.fps = 1000 / frameInterval;
  }
  lastFrameTime = now;
  stats.frames += 1;
  framesAtSize += 1;
  if ($("webcam-size").value === "auto") adaptSize();
  $("webcam-fps").textContent = stats.fps.toFixed(1);
  $("webcam-info").textContent = `${stats.backend}, ${stats.threads} thread(s), ${grab.width}x${grab.height}`;
}

function smooth(average, value) {
  return average ? average + SMOOTHING * (value - average) : value;
}

function adaptSize() {
  if (framesAtSize < ADAPT_FRAMES) return;
  const step = SIZE_LADDER.indexOf(stats.workingSize);
  if (stats.fps < SLOW_FPS && step > 0) setWorkingSize(SIZE_LADDER[step - 1]);
  else if (stats.fps > FAST_FPS && step < SIZE_LADDER.length - 1) setWorkingSize(SIZE_LADDER[step + 1]);
}

/** The largest ladder size not above ``size`` (automatic sizing moves along the ladder). */
function onLadder(size) {
  return SIZE_LADDER.filter((step) => step <= size).pop() ?? SIZE_LADDER[0];
}

function setWorkingSize(size) {
  if (size === stats.workingSize) return;
  stats.workingSize = size;
  resetTiming();
}

function resetTiming() {
  stats.fps = 0;
  stats.inferenceMs = 0;
  frameInterval = 0;
  framesAtSize = 0;
  lastFrameTime = 0;
}

function snapshot() {
  $("webcam-canvas").toBlob((blob) => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `painterly-webcam-${Date.now()}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}
