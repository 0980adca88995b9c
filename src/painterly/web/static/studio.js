// The studio page: builds a job from the form, follows its events, shows the result and the gallery.
// The HTTP API is described in docs/studio_api.md.
import { setupWebcam } from "./webcam.js";

const $ = (id) => document.getElementById(id);
const TERMINAL_EVENTS = ["done", "failed", "cancelled", "interrupted"];
const TERMINAL_STATES = new Set(TERMINAL_EVENTS);
const RERUNNABLE_STATES = new Set(["interrupted", "failed", "cancelled"]);
const MAX_VIDEO_SIZE = 1280;
const GALLERY_LIMIT = 24;
// The strength each method uses when none is sent (docs/studio_api.md): the slider starts there.
const DEFAULT_STRENGTH = { preset: 1, adain: 1, wct: 1, photo: 1, gatys: 0.5 };

window.painterlyTimings = { lastDropToResultMs: null };

const page = {
  photo: null,
  job: null,
  events: null,
  submitting: false, // the POST of a new job is on its way
  ownJobId: null, // the last job started from this page (its result takes the focus)
  method: null, // the method the strength slider was last set for
  strengthMoved: false, // the user moved the strength slider since the method last changed
  autoRunStart: null,
  presetsReady: null,
};

class ApiError extends Error {
  constructor(message, status, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function api(url, options = {}) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, ...options });
  if (!response.ok) throw await apiError(response);
  return response.status === 204 ? null : response.json();
}

async function apiError(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error.message || message;
  } catch {
    // not the API's JSON error: keep the status line
  }
  return new ApiError(message, response.status, response.headers.get("Retry-After"));
}

let errorShown = 0; // a newer call wins over a text still waiting for its frame

function showError(error) {
  const box = $("error");
  const shown = ++errorShown;
  box.textContent = "";
  if (!error) {
    box.hidden = true;
    return;
  }
  const saysWhen = !error.retryAfter || error.message.includes(`${error.retryAfter} s`);
  const wait = saysWhen ? "" : ` Try again in ${error.retryAfter} s.`;
  // Emptied first and filled on the next frame: the same message twice is announced twice.
  requestAnimationFrame(() => {
    if (shown !== errorShown) return;
    box.textContent = `${error.message}${wait}`;
    box.hidden = false;
  });
}

// ---- form ----

function styleMode() {
  return document.querySelector('input[name="style-mode"]:checked').value;
}

function syncForm() {
  const mode = styleMode();
  const method = $("method-select").value;
  $("preset-panel").hidden = mode !== "preset";
  $("painting-panel").hidden = mode === "preset";
  $("blend-fields").hidden = mode !== "blend";
  $("preset-blend").disabled = $("preset-select-2").value === "";
  $("iterations-field").hidden = method !== "gatys";
  syncStrength(method);
  syncKeepColors(method);
  syncSizeLimit();
  const problem = formProblem(mode, method);
  $("form-hint").textContent = problem;
  $("form-hint").classList.toggle("warn", Boolean(problem));
  $("go").disabled = Boolean(problem) || isBusy();
}

function formProblem(mode, method) {
  if (!page.photo) return "Choose a photo or a video first.";
  if (mode === "preset" && method !== "preset") {
    return "This method needs a painting: choose “Your painting” or “Blend two paintings”, or the Instant method.";
  }
  if (mode !== "preset" && method === "preset") {
    return "The Instant method only works with presets: choose another method for your own painting.";
  }
  if (mode === "preset" && !$("preset-select").value) return "Choose a preset.";
  if (mode !== "preset" && !$("style-input").files.length) return "Choose a painting.";
  if (mode === "blend" && !$("style-input-2").files.length) return "Choose the second painting.";
  return "";
}

function syncStrength(method) {
  if (method === page.method) return;
  page.method = method;
  if (!page.strengthMoved) setRange("strength", DEFAULT_STRENGTH[method] ?? 1);
  page.strengthMoved = false;
}

function syncKeepColors(method) {
  const keepsThem = method === "photo"; // the photorealistic method keeps the photo's colours by itself
  const box = $("keep-colors");
  box.disabled = keepsThem;
  if (keepsThem) box.checked = false;
  $("keep-colors-hint").hidden = !keepsThem;
}

function syncSizeLimit() {
  const isVideo = page.photo?.type.startsWith("video/") ?? false;
  const select = $("size-select");
  for (const option of select.options) option.disabled = isVideo && Number(option.value) > MAX_VIDEO_SIZE;
  if (select.selectedOptions[0].disabled) {
    const allowed = [...select.options].filter((option) => !option.disabled);
    select.value = allowed[allowed.length - 1].value;
  }
}

function onStyleModeChange() {
  const mode = styleMode();
  const method = $("method-select");
  if (mode === "preset") method.value = "preset";
  else if (method.value === "preset") method.value = "wct";
  syncForm();
}

function bindOutput(id) {
  $(id).addEventListener("input", () => showRange(id));
  showRange(id);
}

function showRange(id) {
  $(`${id}-value`).value = Number($(id).value).toFixed(2);
}

function setRange(id, value) {
  $(id).value = value;
  showRange(id);
}

function presetField() {
  const first = $("preset-select").value;
  const second = $("preset-select-2").value;
  if (!second || second === first) return first;
  const weight = Number($("preset-blend").value);
  return `${first}:${weight.toFixed(2)},${second}:${(1 - weight).toFixed(2)}`;
}

function buildJobForm() {
  const form = new FormData();
  const method = $("method-select").value;
  form.append("photo", page.photo);
  form.append("method", method);
  if (method === "preset") {
    form.append("preset", presetField());
  } else {
    form.append("style", $("style-input").files[0]);
    if (styleMode() === "blend") {
      form.append("style", $("style-input-2").files[0]);
      form.append("blend", $("blend").value);
    }
  }
  form.append("strength", $("strength").value);
  if (!$("keep-colors").disabled) form.append("color", $("keep-colors").checked ? "luminance" : "none");
  form.append("size", $("size-select").value);
  if (method === "gatys" && $("iterations").value) form.append("iterations", $("iterations").value);
  return form;
}

async function submitJob() {
  if (isBusy()) return;
  showError(null);
  page.submitting = true;
  syncForm();
  try {
    const job = await api("/api/jobs", { method: "POST", body: buildJobForm() });
    page.submitting = false;
    page.ownJobId = job.id;
    follow(job);
  } catch (error) {
    page.submitting = false;
    page.autoRunStart = null;
    showError(error);
    syncForm();
  }
}

// ---- photo ----

function choosePhoto(file, { dropped }) {
  if (!file) return;
  if (!/^(image|video)\//.test(file.type) && file.type !== "") {
    showError(new Error(`“${file.name}” is not a picture or a video.`));
    return;
  }
  const chosenAt = performance.now();
  page.photo = file;
  showError(null);
  showThumbnail(file);
  syncForm();
  if (shouldAutoRun()) autoRun(chosenAt);
  else if (dropped) $("go").focus();
}

function showThumbnail(file) {
  const isVideo = file.type.startsWith("video/");
  const image = $("photo-thumb");
  const video = $("photo-thumb-video");
  for (const element of [image, video]) {
    if (element.src) URL.revokeObjectURL(element.src);
    element.removeAttribute("src");
  }
  const target = isVideo ? video : image;
  target.src = URL.createObjectURL(file);
  image.hidden = isVideo;
  video.hidden = !isVideo;
  $("photo-name").textContent = file.name;
}

function shouldAutoRun() {
  return $("auto-run").checked && styleMode() === "preset" && $("method-select").value === "preset" && !isBusy();
}

async function autoRun(chosenAt) {
  await page.presetsReady;
  if (isBusy() || formProblem(styleMode(), $("method-select").value)) return;
  page.autoRunStart = chosenAt;
  submitJob();
}

function setupDropZone() {
  const zone = $("drop-zone");
  const input = $("photo-input");
  input.addEventListener("change", () => choosePhoto(input.files[0], { dropped: false }));
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return; // Space opens the picker natively, Enter does not everywhere
    event.preventDefault();
    input.click();
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) input.files = event.dataTransfer.files;
    choosePhoto(file, { dropped: true });
  });
}

// ---- a running job ----

function isBusy() {
  return page.submitting || page.events !== null;
}

function follow(job) {
  closeEvents();
  page.job = job;
  $("run-section").hidden = false;
  $("preview-image").hidden = true;
  $("cancel").disabled = false;
  $("losses").textContent = "";
  showProgress(job.progress);
  showState(job);
  page.events = new EventSource(job.links.events);
  page.events.addEventListener("state", (event) => onState(job, JSON.parse(event.data)));
  page.events.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
  for (const name of TERMINAL_EVENTS) {
    page.events.addEventListener(name, (event) => finish(JSON.parse(event.data)));
  }
  page.events.addEventListener("error", () => onStreamError(job));
  syncForm();
}

function closeEvents() {
  page.events?.close();
  page.events = null;
}

async function onStreamError(job) {
  if (page.events?.readyState !== EventSource.CLOSED) return; // the browser reconnects with Last-Event-ID
  closeEvents();
  try {
    const latest = await api(job.links.self);
    if (TERMINAL_STATES.has(latest.state)) finish(latest);
    else throw new Error("Lost the job's live updates; open it from the gallery to follow it again.");
  } catch (error) {
    showError(error);
    syncForm();
  }
}

function onState(job, data) {
  page.job = { ...page.job, state: data.state };
  showState(data);
  if (data.state === "queued") refreshQueuePosition(job); // the event does not say how many are ahead
}

async function refreshQueuePosition(job) {
  try {
    const latest = await api(job.links.self);
    // only while still following this job and nothing newer arrived meanwhile
    if (page.events && page.job.id === latest.id && page.job.state === "queued" && latest.state === "queued") {
      page.job = latest;
      showState(latest);
    }
  } catch {
    // the event stream still reports the state; the count ahead is a nicety
  }
}

function showState({ state, queue_position: position }) {
  const queued = state === "queued" && position ? ` (${position} ahead)` : "";
  $("run-status").textContent = `${capitalise(state)}${queued}`;
}

function showProgress(progress) {
  if (!progress) return;
  const bar = $("progress");
  if (typeof progress.fraction === "number") {
    bar.value = progress.fraction;
    bar.textContent = `${Math.round(progress.fraction * 100)}%`;
  } else {
    bar.removeAttribute("value");
  }
  const step = progress.total ? `step ${progress.step} of ${progress.total}` : "";
  const losses = Object.entries(progress.losses ?? {})
    .map(([name, value]) => `${name} ${formatNumber(value)}`)
    .join(" · ");
  $("losses").textContent = [step, losses].filter(Boolean).join(" — ");
  if (progress.preview) {
    $("preview-image").src = previewUrl(progress.preview);
    $("preview-image").hidden = false;
  }
}

function previewUrl(preview) {
  // the contract's URL; a bare version number is accepted too
  return typeof preview === "number" ? `${page.job.links.preview}?v=${preview}` : preview;
}

function finish(job) {
  closeEvents();
  page.job = job;
  $("cancel").disabled = true;
  showState(job);
  if (job.state === "done") {
    $("progress").value = 1;
    $("preview-image").hidden = true;
    showResult(job, { focus: job.id === page.ownJobId });
  } else {
    page.autoRunStart = null;
    if (job.state !== "cancelled") showError(new Error(`The job ${job.state}: ${job.error ?? "no reason given"}`));
  }
  syncForm();
  loadGallery();
}

async function cancelJob() {
  if (!page.job) return;
  $("cancel").disabled = true;
  $("run-status").textContent = "Cancelling…";
  try {
    await api(`${page.job.links.self}/cancel`, { method: "POST" });
  } catch (error) {
    if (error.status === 409) {
      $("run-status").textContent = "It had already finished."; // its last event follows
      return;
    }
    showError(error);
    showState(page.job);
    $("cancel").disabled = !isBusy();
  }
}

// ---- result ----

function showResult(job, { focus = false } = {}) {
  const isVideo = job.kind === "video";
  $("result-empty").hidden = true;
  $("compare").hidden = isVideo;
  $("compare-hint").hidden = isVideo;
  $("result-video").hidden = !isVideo;
  if (isVideo) {
    $("result-video").src = job.links.result;
  } else {
    $("compare-before").src = job.links.input;
    const result = $("result-image");
    result.dataset.jobId = job.id;
    result.src = job.links.result;
  }
  const download = $("download");
  download.href = `${job.links.result}?download=1`;
  download.hidden = false;
  $("result-section").scrollIntoView({ behavior: "smooth", block: "nearest" });
  if (focus) $("result-title").focus({ preventScroll: true }); // a job started here: its result is what comes next
}

function onResultLoaded() {
  if (page.autoRunStart === null || $("result-image").dataset.jobId !== page.job?.id) return;
  window.painterlyTimings.lastDropToResultMs = Math.round(performance.now() - page.autoRunStart);
  page.autoRunStart = null;
}

function setupCompare() {
  const range = $("compare-range");
  const move = () => $("compare").style.setProperty("--pos", `${range.value}%`);
  range.addEventListener("input", move);
  move();
  $("result-image").addEventListener("load", onResultLoaded);
}

// ---- gallery ----

async function loadGallery({ reattach = false } = {}) {
  try {
    const { jobs } = await api(`/api/jobs?limit=${GALLERY_LIMIT}`);
    $("gallery").replaceChildren(...jobs.map(galleryCard));
    // after a reload: follow the newest job again while it is still queued or running
    const newest = jobs[0];
    if (reattach && newest && !TERMINAL_STATES.has(newest.state) && !isBusy()) follow(newest);
  } catch (error) {
    showError(error);
  }
}

function galleryCard(job) {
  const card = element("li", { className: "card" });
  const show = element("button", { className: "show", type: "button" });
  show.setAttribute("aria-label", `Show the ${job.state} ${job.method} job from ${formatTime(job.created)}`);
  show.append(thumbnail(job));
  show.addEventListener("click", () => openJob(job));
  const stateText = element("span", { className: `state state-${job.state}`, textContent: job.state });
  const line = element("p");
  line.append(stateText, ` · ${job.method} · ${job.kind}`);
  const time = element("p", { className: "hint", textContent: formatTime(job.created) });
  card.append(show, line, time, recordDetails(job));
  if (RERUNNABLE_STATES.has(job.state)) card.append(resubmitButton(job));
  return card;
}

function thumbnail(job) {
  if (job.state !== "done" && !job.progress?.preview) return element("span", { className: "placeholder" });
  const image = element("img", { alt: "", loading: "lazy", src: job.links.preview });
  image.addEventListener("error", () => image.replaceWith(element("span", { className: "placeholder" })), { once: true });
  return image;
}

function recordDetails(job) {
  const details = element("details");
  const summary = element("summary", { textContent: "Run record" });
  const record = job.record ?? { options: job.options, error: job.error };
  details.append(summary, element("pre", { className: "mono", textContent: JSON.stringify(record, null, 2) }));
  return details;
}

function resubmitButton(job) {
  const button = element("button", { type: "button", textContent: "Run again" });
  button.setAttribute("aria-label", `Run again: the ${job.method} job from ${formatTime(job.created)}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const again = await api(`${job.links.self}/resubmit`, { method: "POST" });
      page.ownJobId = again.id;
      follow(again);
      loadGallery();
    } catch (error) {
      showError(error);
      button.disabled = false;
    }
  });
  return button;
}

function openJob(job) {
  showError(null);
  if (job.state === "done") showResult(job);
  else if (job.state === "queued" || job.state === "running") follow(job);
  else showError(new Error(`This job ${job.state}${job.error ? `: ${job.error}` : "."}`));
}

// ---- helpers ----

function element(tag, properties = {}) {
  return Object.assign(document.createElement(tag), properties);
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function formatNumber(value) {
  return Math.abs(value) >= 1000 || (value !== 0 && Math.abs(value) < 0.01) ? value.toExponential(2) : value.toFixed(3);
}

function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

async function loadPresets() {
  const catalogue = await api("/api/presets");
  const options = catalogue.presets.map(({ name }) => new Option(name.replaceAll("_", " "), name));
  $("preset-select").replaceChildren(...options);
  $("preset-select-2").append(...options.map((option) => option.cloneNode(true)));
  setupWebcam(catalogue);
  syncForm();
}

function setupForm() {
  document.querySelectorAll('input[name="style-mode"]').forEach((radio) => {
    radio.addEventListener("change", onStyleModeChange);
  });
  for (const id of ["method-select", "preset-select", "preset-select-2", "style-input", "style-input-2"]) {
    $(id).addEventListener("change", syncForm);
  }
  bindOutput("preset-blend");
  bindOutput("blend");
  bindOutput("strength");
  $("strength").addEventListener("input", () => { page.strengthMoved = true; });
  $("job-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("go").disabled) submitJob();
  });
  $("cancel").addEventListener("click", cancelJob);
  $("gallery-refresh").addEventListener("click", loadGallery);
}

function main() {
  setupForm();
  setupDropZone();
  setupCompare();
  syncForm();
  page.presetsReady = loadPresets().catch(showError);
  loadGallery({ reattach: true });
}

main();
