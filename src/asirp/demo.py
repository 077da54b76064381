"""``asirp demo``: the default pipeline on embedded data, written as a report folder.

Two cases, both shipped inside the package so nothing is fetched:

1. a synthetic copper mesh grid AG175 scanned at 25 µm steps under a 50 µm beam
   (the paper's micro-XRF case) with Poisson noise: raw, restored and ground truth,
   with PSNR/SSIM and the paper's contrast measure (standard deviation);
2. the real tooth sinogram (APS, shipped from TomoPy's sample data): restored with
   ``auto`` and reconstructed by filtered back-projection before and after.

The folder gets NeXus files with full provenance, before/after PNGs with colour and
scale bars, line profiles, and ``summary.md`` / ``summary.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis, report, synth
from .errors import OutputError
from .frame import Frame
from .io import open as open_frame
from .io import save
from .io.atomic import atomic_output
from .progress import progress
from .samples import tooth_sinogram
from .select import Decision, make_plan

#: Files the demo writes into its folder (so a re-run knows what it may replace).
DEMO_FILES = (
    "ag175_raw.nxs", "ag175_restored.nxs", "ag175_compare.png", "ag175_profile.png",
    "tooth_sinogram_restored.nxs", "tooth_compare.png", "tooth_slice_compare.png", "tooth_profile.png",
    "summary.md", "summary.json",
)


@dataclass
class DemoReport:
    """What the demo did: one entry per case with its figures and files."""

    out_dir: Path
    cases: list[dict[str, Any]] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = ["# asirp demo report", ""]
        for case in self.cases:
            lines += [f"## {case['title']}", "", case["description"], "", f"**Method chosen:** `{case['method']}`", ""]
            lines += ["```", case["explanation"], "```", ""]
            if case.get("figures"):
                lines += ["| figure | value |", "|---|---|"]
                lines += [f"| {name} | {value:.4g} |" for name, value in case["figures"].items()]
                lines.append("")
            lines += [f"![{name}]({name})" for name in case["pictures"]]
            lines += ["", "Files: " + ", ".join(f"`{name}`" for name in case["files"]), ""]
        return "\n".join(lines)


def _auto(frame: Frame) -> tuple[Decision, Frame]:
    """``auto``'s decision on ``frame`` and the frame restored by it (decided once)."""
    plan = make_plan(frame)
    assert plan.decision is not None
    return plan.decision, plan.run(frame)


def _mesh_case(out_dir: Path, force: bool) -> dict[str, Any]:
    result = synth.mesh_grid_map("AG175", shape=(96, 96), step_um=25.0, beam_fwhm_um=50.0, counts=60.0, seed=0)
    raw_path = save(result.noisy, out_dir / "ag175_raw.nxs", force=force)
    raw = open_frame(raw_path, kind="xrf_map")
    decision, restored = _auto(raw)
    save(restored, out_dir / "ag175_restored.nxs", force=force)
    truth = result.truth
    panels = {"raw (Poisson, 50 µm beam)": raw, f"restored ({decision.method})": restored, "ground truth": truth}
    report.compare_figure(panels, out_dir / "ag175_compare.png", title="AG175 copper grid, 25 µm steps")
    report.line_profile_figure(panels, out_dir / "ag175_profile.png")
    figures = {
        "PSNR raw vs truth (dB)": analysis.psnr(truth, raw),
        "PSNR restored vs truth (dB)": analysis.psnr(truth, restored),
        "SSIM raw vs truth": analysis.ssim(truth, raw),
        "SSIM restored vs truth": analysis.ssim(truth, restored),
        "contrast std raw (counts)": analysis.contrast_std(raw),
        "contrast std restored (counts)": analysis.contrast_std(restored),
        "contrast std truth (counts)": analysis.contrast_std(truth),
    }
    return {
        "title": "Synthetic micro-XRF map: copper mesh grid AG175",
        "description": "Hole 108 µm, bar 37 µm, scanned at 25 µm steps under a 50 µm FWHM Gaussian beam, "
        "60 counts in the bars, Poisson noise (asirp.synth.mesh_grid_map, seed 0).",
        "method": decision.method,
        "explanation": decision.explain(),
        "figures": figures,
        "pictures": ["ag175_compare.png", "ag175_profile.png"],
        "files": ["ag175_raw.nxs", "ag175_restored.nxs"],
    }


def _fbp(sinogram: Frame) -> Frame:
    """Filtered back-projection of a (angles, pixels) attenuation sinogram, for the before/after view.

    The rotation axis is found and the slice reconstructed by :mod:`asirp.tomo`
    (:func:`~asirp.tomo.centre.estimate_centre`, :func:`~asirp.tomo.reconstruct.fbp_slices`),
    so the demo shows what ``asirp tomo recon`` does.
    """
    from .tomo.centre import estimate_centre
    from .tomo.reconstruct import fbp_slices

    angles = np.asarray(sinogram.meta["angles_deg"], dtype=float)
    centre = estimate_centre(sinogram.data[:, None, :], angles)
    data, valid = fbp_slices(sinogram.data[None], angles, centre.centre_px)
    return Frame(data[0], valid[0], kind="image",
                 meta={"reconstruction": f"FBP (ramp), rotation axis at column {centre.centre_px:.2f} ({centre.method})"},
                 history=sinogram.history)


def _tooth_case(out_dir: Path, force: bool) -> dict[str, Any]:
    sinogram = tooth_sinogram(row=0)
    decision, restored = _auto(sinogram)
    save(restored, out_dir / "tooth_sinogram_restored.nxs", force=force)
    report.compare_figure({"sinogram, raw": sinogram, f"sinogram, {decision.method}": restored},
                          out_dir / "tooth_compare.png", title="tooth (APS): attenuation sinogram", label="-ln(I/I0)")
    slices = {"FBP of raw": _fbp(sinogram), f"FBP after {decision.method}": _fbp(restored)}
    report.compare_figure(slices, out_dir / "tooth_slice_compare.png", title="tooth: reconstructed slice",
                          label="attenuation (1/px)")
    report.line_profile_figure(slices, out_dir / "tooth_profile.png", label="attenuation (1/px)")
    even, odd = sinogram.data[0::2][:90], sinogram.data[1::2][:90]
    restored_even, restored_odd = restored.data[0::2][:90], restored.data[1::2][:90]
    figures = {
        "noise σ raw (wavelet estimate)": decision.features.noise_sigma,
        "contrast std raw": analysis.contrast_std(sinogram),
        "contrast std restored": analysis.contrast_std(restored),
        "FRC resolution raw, even vs odd angles (px)": analysis.frc(even, odd).resolution_px,
        "FRC resolution restored, even vs odd angles (px)": analysis.frc(restored_even, restored_odd).resolution_px,
    }
    return {
        "title": "Real data: tooth sinogram (APS, TomoPy sample data)",
        "description": "181 projections over 180°, one detector row of 640 pixels, flat/dark corrected and "
        "turned into attenuation; reconstructed by filtered back-projection before and after restoration.",
        "method": decision.method,
        "explanation": decision.explain(),
        "figures": figures,
        "pictures": ["tooth_compare.png", "tooth_slice_compare.png", "tooth_profile.png"],
        "files": ["tooth_sinogram_restored.nxs"],
    }


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path.absolute(), force=True, inputs=()) as temporary:
        temporary.write_text(text, encoding="utf-8")


def run_demo(out_dir: str | os.PathLike[str] = "asirp-demo", *, force: bool = False) -> DemoReport:
    """Run the demo cases and write the report folder ``out_dir``.

    An existing report is replaced only with ``force=True``; files other than the
    demo's own are never touched.
    """
    folder = Path(out_dir)
    existing = [name for name in DEMO_FILES if (folder / name).exists()]
    if existing and not force:
        raise OutputError(f"{folder}: a demo report is already there ({existing[0]}, ...); use --force to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    demo = DemoReport(folder)
    for case in progress((_mesh_case, _tooth_case), desc="demo cases", unit="case"):
        demo.cases.append(case(folder, force))
    _write_text(folder / "summary.md", demo.to_markdown())
    _write_text(folder / "summary.json", json.dumps({"cases": demo.cases}, indent=2, default=float))
    return demo
