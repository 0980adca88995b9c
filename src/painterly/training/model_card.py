"""A model card for a trained feed-forward network, written from the record stored in its model file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PAINTINGS = {
    "starry_night": "Vincent van Gogh, The Starry Night (1889)",
    "the_scream": "Edvard Munch, The Scream (1893)",
    "shipwreck": "J. M. W. Turner, The Shipwreck (1805)",
    "woman_with_hat_matisse": "Henri Matisse, Woman with a Hat (1905)",
    "mondrian": "Piet Mondrian, composition",
    "picasso_selfport1907": "Pablo Picasso, Self-Portrait (1907)",
    "seated_nude": "Pablo Picasso, Seated Nude (1909-10)",
    "udnie": "Francis Picabia, Udnie (1913)",
    "contrast_of_forms": "Fernand Léger, Contrast of Forms (1913)",
    "the_resevoir_at_poitiers": "Jean Metzinger, The Reservoir at Poitiers (1905)",
}


PUBLIC_DOMAIN = (
    "The paintings are in the public domain by age (several only in the US); they come from the example folders of "
    "public neural-style-transfer repositories."
)
CHECK_LICENCES = "Check the licences of the paintings and photos this network was trained on before sharing it."


def _run_lines(info: Mapping[str, Any], optimiser_extra: str = "") -> list[str]:
    """The optimiser, length and final-loss lines every card has, from the run's record."""
    options = info.get("options", {})
    losses = info.get("final_losses", {})
    return [
        f"- Optimiser: Adam, learning rate {options.get('learning_rate')} with {options.get('warmup_steps')} warm-up "
        f"steps and cosine decay to {options.get('final_learning_rate_ratio')}x"
        + (" over the time budget" if options.get("decay_over_budget") else "")
        + f";{optimiser_extra} batch "
        f"{options.get('batch_size')}; seed {options.get('seed')}.",
        f"- Trained {info.get('steps')} of {info.get('planned_steps')} planned steps in "
        f"{float(info.get('seconds', 0)) / 60:.0f} minutes on {info.get('device', 'an unrecorded device')} "
        f"({info.get('precision')} autocast, torch {info.get('torch')}).",
        "- Final losses (mean of the last 50 steps): "
        + ", ".join(f"{key} {value:.4g}" for key, value in losses.items() if "/" not in key)
        + ".",
    ]


def render_model_card(names: Sequence[str], spec: Mapping[str, int], parameters: int, info: Mapping[str, Any]) -> str:
    """Markdown: styles and their sources, data, network, training settings, time and final losses, licences."""
    settings = info.get("losses", {})
    lines = [
        "# painterly presets: model card",
        "",
        f"One feed-forward network, {len(names)} styles (conditional instance norm), trained by painterly's own code "
        "(`painterly train feedforward`).",
        "",
        "## Styles",
        "",
        *[f"- `{name}`: {PAINTINGS.get(name, 'user-supplied painting')}" for name in names],
        "",
        PUBLIC_DOMAIN if set(names) <= set(PAINTINGS) else CHECK_LICENCES,
        "",
        "## Data and training",
        "",
        f"- Photos: {info.get('photos', 'unknown')}.",
        f"- Network: width {spec.get('width')}, {spec.get('residual_blocks')} residual blocks, "
        f"{spec.get('downsamplings')} stride-2 downsamplings, {spec.get('edge_kernel')}x{spec.get('edge_kernel')} "
        f"edge convolutions; {parameters:,} parameters; stored in fp16.",
        f"- Losses: VGG16 (ImageNet) content at {', '.join(settings.get('content_layers', {}))}, Gram style at "
        f"{', '.join(f'{k} x{v:g}' for k, v in settings.get('style_layers', {}).items())}; style weight "
        f"{settings.get('style_weight', 0):g}, content weight {settings.get('content_weight', 0):g}, TV weight "
        f"{settings.get('tv_weight', 0):g}; paintings seen at {settings.get('style_size')} px long side"
        + (
            "; each painting's loss scaled by the inverse of its style loss on the untouched photos (balance)."
            if settings.get("balance_styles")
            else "."
        ),
        *_distillation_lines(info.get("distillation")),
        *([f"- Training started from `{info['initialised_from']}`."] if info.get("initialised_from") else []),
        *_run_lines(info, f" norm parameters at {settings.get('norm_learning_rate_scale', 1)}x;"),
        "",
        "## Limits",
        "",
        "- Brush-stroke size is fixed relative to pixels: on large photos use `--style-scale` above 1.",
        "- One pass of a small network: fine painterly detail and faithful colours stay below what optimisation "
        "(`painterly transfer`) gives; see the README's benchmark for the measured gap.",
        "",
    ]
    return "\n".join(lines)


def _distillation_lines(distillation: Mapping[str, Any] | None) -> list[str]:
    """The distillation line of a presets card (none when the run had no targets)."""
    if not distillation:
        return []
    settings = distillation.get("settings", {})
    weights = distillation.get("weights", {})
    return [
        f"- Distillation: {distillation.get('pairs')} optimisation results (`painterly train targets`: "
        f"{settings.get('crop')} px crops, {settings.get('iterations')} L-BFGS iterations at strength "
        f"{settings.get('strength')}, paintings at {settings.get('style_size')} px) as targets; pixel MSE "
        f"x{weights.get('pixel_weight', 0):g} + feature MSE at {', '.join(weights.get('feature_layers', {}))} "
        f"x{weights.get('feature_weight', 0):g}, "
        + (
            f"beside the perceptual loss x{scale:g}."
            if (scale := weights.get("perceptual_scale", 0))
            else "alone (no perceptual loss)."
        )
    ]


def render_decoder_card(spec: Mapping[str, int], parameters: int, info: Mapping[str, Any]) -> str:
    """Markdown card of an AdaIN decoder: data (paintings trained on, held out), network, training, losses."""
    settings = info.get("losses", {})
    paintings = list(info.get("paintings", []))
    held_out = list(info.get("held_out", []))
    known = set(paintings) | set(held_out) <= set(PAINTINGS)
    lines = [
        "# painterly AdaIN decoder: model card",
        "",
        "The decoder of painterly's arbitrary-style method (AdaIN, Huang & Belongie 2017): the frozen ImageNet VGG16 "
        "encodes a photo to relu4_1, adaptive instance normalisation gives those features a style image's channel "
        "means and deviations, and this decoder turns them into a picture. Trained by painterly's own code "
        "(`painterly train arbitrary`).",
        "",
        "## Data",
        "",
        "- Paintings trained on: "
        + ", ".join(f"`{name}` ({PAINTINGS.get(name, 'user-supplied')})" for name in paintings)
        + f"; each at {', '.join(str(scale) for scale in info.get('painting_scales', []))} px long side, random "
        "crops and flips, "
        f"random colour changes (strength {settings.get('color_jitter')}).",
        "- Held out (never seen in training, used to judge generalisation): "
        + (", ".join(f"`{name}` ({PAINTINGS.get(name, 'user-supplied')})" for name in held_out) or "none")
        + ".",
        *(
            [f"- Training started from the decoder `{info['initialised_from']}` (same shape)."]
            if info.get("initialised_from")
            else []
        ),
        f"- Photos: {info.get('photos', 'unknown')}; {settings.get('photo_style_share', 0):.0%} of each batch is "
        f"styled by another photo and {settings.get('self_style_share', 0):.0%} by itself (reconstruction).",
        "- " + (PUBLIC_DOMAIN if known else CHECK_LICENCES),
        "",
        "## Network and training",
        "",
        f"- Decoder: width {spec.get('width')} at full size (x2 per level, {4 * int(spec.get('width', 0))} at 1/4 "
        f"size with {spec.get('quarter_convs')} extra convolutions), reflection padding, nearest upsampling; "
        f"{parameters:,} parameters; stored in fp16.",
        f"- Loss: content MSE to the AdaIN target at relu4_1 (weight {settings.get('content_weight', 0):g}), "
        f"mean/deviation style loss at relu1_1..relu4_1 (weight {settings.get('style_weight', 0):g}), pixel MSE on "
        f"the self-styled samples (weight {settings.get('reconstruction_weight', 0):g}).",
        *_run_lines(info),
        "",
        "## Limits",
        "",
        "- AdaIN matches channel statistics only: it transfers colours and local texture well, large-scale structure "
        "of a painting (long strokes, composition) much less than optimisation (`painterly transfer`).",
        "- A small decoder trained briefly on a CPU: fine detail is softer than the photo; see the README's benchmark "
        "for the measured losses next to the Gatys method.",
        "",
    ]
    return "\n".join(lines)


def render_reconstruction_card(info: Mapping[str, Any]) -> str:
    """Markdown card of a set of WCT reconstruction decoders: data, networks, training, held-out PSNR."""
    settings = info.get("losses", {})
    paintings = list(info.get("paintings", []))
    held_out = list(info.get("held_out", []))
    known = set(paintings) | set(held_out) <= set(PAINTINGS)
    levels = list(info.get("levels", []))
    parameters = info.get("parameters", {})
    scores = info.get("psnr", {})
    lines = [
        "# painterly WCT reconstruction decoders: model card",
        "",
        "The decoders of painterly's universal style transfer (`--method wct`, Li et al. 2017): for each VGG16 level "
        "one decoder learned to turn the frozen ImageNet encoder's features back into the image. No style enters "
        "their loss, so they serve any painting. Trained by painterly's own code (`painterly train decoders`).",
        "",
        "## Data",
        "",
        f"- Photos: {info.get('photos', 'unknown')}.",
        "- Painting crops ("
        + f"{settings.get('painting_share', 0):.0%} of each batch): "
        + (", ".join(f"`{name}` ({PAINTINGS.get(name, 'user-supplied')})" for name in paintings) or "none")
        + ".",
        "- Held out (never seen in training; the test of generalisation): "
        + (", ".join(f"`{name}` ({PAINTINGS.get(name, 'user-supplied')})" for name in held_out) or "none")
        + ".",
        *([f"- Training started from `{info['initialised_from']}`."] if info.get("initialised_from") else []),
        "- " + (PUBLIC_DOMAIN if known else CHECK_LICENCES),
        "",
        "## Networks and training",
        "",
        *[
            f"- `{layer}`: slim mirror of VGG16 from {layer} (reflection padding, nearest upsampling), "
            f"{int(parameters.get(layer, 0)):,} parameters; stored in fp16."
            for layer in levels
        ],
        f"- Loss per level: pixel MSE (weight {settings.get('pixel_weight', 0):g}) plus feature MSE at the decoder's "
        f"own level relative to the features' mean square (weight {settings.get('feature_weight', 0):g})"
        + (
            f", plus the same relative feature MSE on whitened-and-coloured features, each crop in the statistics of "
            f"another crop of the batch (weight {settings.get('transfer_weight', 0):g}): the decoders learn the "
            "features WCT hands them; no style loss"
            if settings.get("transfer_weight")
            else ""
        )
        + ".",
        *_run_lines(info),
        "",
        "## Reconstruction on photos never trained on",
        "",
        *(
            [
                f"PSNR (dB) on {info.get('psnr_photos', 'held-out photos')}: "
                + ", ".join(f"{layer} {value:.2f}" for layer, value in scores.items())
                + "."
            ]
            if scores
            else ["Not measured for this run."]
        ),
        "",
        "## Limits",
        "",
        "- Slim decoders trained briefly on a CPU: the deeper the level, the softer the reconstruction (see the PSNR "
        "above); WCT's cascade recovers detail by finishing at the shallow levels.",
        "",
    ]
    return "\n".join(lines)


def render_photo_decoder_card(info: Mapping[str, Any]) -> str:
    """Markdown card of the photorealistic mode's wavelet decoder."""
    settings = info.get("losses", {})
    paintings = list(info.get("paintings", []))
    score = info.get("psnr")
    lines = [
        "# painterly photorealistic decoder: model card",
        "",
        "The decoder of painterly's photorealistic mode (`--method photo`, in the spirit of WCT2, Yoo et al. 2019): "
        "the frozen ImageNet VGG16 runs with Haar wavelet pooling in place of max pooling; the low band goes on to "
        "relu4_1, the three high bands of each pooling skip to this decoder, whose unpooling is the inverse Haar "
        "transform. Trained only to reconstruct, by painterly's own code (`painterly train decoders --target photo`).",
        "",
        "## Data",
        "",
        f"- Photos: {info.get('photos', 'unknown')}.",
        f"- Painting crops ({settings.get('painting_share', 0):.0%} of each batch): "
        + (", ".join(f"`{name}`" for name in paintings) or "none")
        + "; held out: "
        + (", ".join(f"`{name}`" for name in info.get("held_out", [])) or "none")
        + ".",
        *([f"- Training started from `{info['initialised_from']}`."] if info.get("initialised_from") else []),
        "",
        "## Network and training",
        "",
        f"- Decoder: full-width mirror of VGG16 to relu4_1, {int(info.get('parameters', 0)):,} parameters, "
        "reflection padding, Haar unpooling"
        + (
            "; after each unpooling the features that entered that pooling are concatenated (WCT2's cat5), so flat "
            "regions, whose deep features say little, keep their colour"
            if info.get("feature_skips")
            else ""
        )
        + "; stored in fp16.",
        f"- Loss: pixel MSE (weight {settings.get('pixel_weight', 0):g}) plus feature MSE at relu1_1..relu4_1 of the "
        "wavelet encoder, relative to the features' mean square and averaged "
        f"(weight {settings.get('feature_weight', 0):g}).",
        *_run_lines(info),
        "",
        "## Reconstruction on photos never trained on",
        "",
        f"PSNR {score:.2f} dB on {info.get('psnr_photos')}." if score is not None else "Not measured for this run.",
        "",
    ]
    return "\n".join(lines)
