"""Resolve the stage spec against settings, without an engine (`flamenco-pipeline plan`)."""

from __future__ import annotations

from pipeline.core import spec
from pipeline.core.settings import Settings
from pipeline.core.spec import GO_IMAGE_TEMPLATE, node_major


def images(settings: Settings, go_version: str) -> dict[str, str]:
    return {
        "go": settings.go_image or GO_IMAGE_TEMPLATE.format(go_version=go_version),
        "node": settings.node_image,
        "python": settings.python_image,
        "runtime": settings.runtime_image,
    }


def resolved_plan(settings: Settings, go_version: str) -> spec.Plan:
    return spec.Plan(
        images=images(settings, go_version),
        go_version=go_version,
        node_version=node_major(settings.node_image),
        go_env=settings.go_module_env(),
    )


def render_text(plan: spec.Plan) -> str:
    d = plan.as_dict()
    lines = [f"Go {d['go_version']}  images: " + ", ".join(f"{k}={v}" for k, v in d["images"].items())]
    lines.append("Go module settings: " + ", ".join(f"{k}={v}" for k, v in d["go_module_env"].items()))
    for tier in spec.TIERS:
        stages = [s for s in d["stages"] if s["tier"] == tier]
        if not stages:
            continue
        lines.append(f"\n[{tier}]")
        for s in stages:
            lines.append(f"  {s['name']:<12} from {s['from']:<18} {s['doc']}")
            if s["copies"]:
                lines.append(f"  {'':<12} copies {', '.join(s['copies'])}")
            if s["runs"]:
                lines.append(f"  {'':<12} runs   {'; '.join(s['runs'])}")
    lines.append("\ncaches:")
    for c in d["caches"]:
        lines.append(f"  {c['id']:<44} {c['path']:<32} {c['sharing']}")
    return "\n".join(lines)
