"""The notebooks' live figures in a real browser: JupyterLab runs a notebook, a slider is moved with the
keyboard and with a mouse drag, and the figure the kernel sends back is another image."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

#: a ceiling against a hung kernel only: each wait ends at its event (every cell run, a new figure), so a
#: slow machine passes, however slow
NOTEBOOK_SECONDS = 3600
#: the least time a redraw is given; a slower machine gets as long as its run of the whole notebook took,
#: since one redraw is a part of that work
REDRAW_FLOOR_SECONDS = 120
FINISHED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    const failed = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    return failed !== null || (prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)));
}"""
"""Every code cell has run (each prompt holds an execution count, not [ ] nor [*]), or one has written to stderr."""
IDLE = '.jp-Notebook-ExecutionIndicator[data-status="idle"]'


def menu(page: Page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def run_notebook(page: Page, lab: str, name: str) -> float:
    """Open notebook `name`, clear its saved outputs, run all its cells, and wait until the last one has run
    without an error; returns the redraw budget, scaled to the seconds the run took."""
    page.goto(f"{lab}/lab/tree/{name}?reset")  # reset: the only tab, whatever an earlier test left open
    page.locator(IDLE).wait_for(timeout=NOTEBOOK_SECONDS * 1000)
    menu(page, "Edit", "Clear Outputs of All Cells")
    expect(page.locator(".jp-CodeCell .jp-InputArea-prompt", has_text=re.compile(r"\d"))).to_have_count(0)
    began = time.monotonic()
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(FINISHED, timeout=NOTEBOOK_SECONDS * 1000, polling=500)
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    assert not errors, f"{name} wrote to stderr:\n" + "\n".join(errors)[-3000:]
    return max(REDRAW_FLOOR_SECONDS, time.monotonic() - began)


def slider(page: Page, description: str) -> Locator:
    return page.locator(".widget-hslider", has=page.locator(".widget-label", has_text=re.compile(f"^{description}$")))


def sources(images: Locator) -> list[str]:
    return [image.get_attribute("src") or "" for image in images.all()]


def press_right(page: Page, control: Locator) -> None:
    """Move a slider one step to the right with the keyboard."""
    control.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")


def drag_right(page: Page, control: Locator, pixels: float) -> None:
    """Drag a slider's handle `pixels` to the right with the mouse."""
    box = control.locator(".noUi-handle").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=10)
    page.mouse.up()


def new_figure(page: Page, images: Locator, seen: set[str], budget: float) -> str:
    """The src of the figure the output settles on (the kernel idle, the same image for 1 s), one not `seen`,
    within `budget` seconds."""
    deadline, last = time.monotonic() + budget, None
    while time.monotonic() < deadline:
        shown = sources(images)
        current = shown[-1] if shown else None
        if current is not None and current not in seen and current == last and page.locator(IDLE).count():
            return current
        last = current
        time.sleep(1.0)
    raise AssertionError(f"no new figure within {budget:.0f} s (last: {(last or '')[:60]})")


def test_the_loss_playground_redraws_when_a_slider_moves(page, lab):
    budget = run_notebook(page, lab, "03_losses.ipynb")
    beta, gamma = slider(page, "beta"), slider(page, "gamma")
    drawn = page.locator(".jp-Cell", has=beta).locator(".jp-OutputArea-output > img")
    default = sources(drawn)
    assert len(default) == 1 and default[0].startswith("data:image/png"), "one figure, of the default values"

    expect(beta.locator(".widget-readout")).to_have_text("0.90")
    press_right(page, beta)
    expect(beta.locator(".widget-readout")).to_have_text("0.95")
    by_key = new_figure(page, drawn, set(default), budget)

    drag_right(page, gamma, 60)
    expect(gamma.locator(".widget-readout")).not_to_have_text("1.00")
    by_drag = new_figure(page, drawn, {*default, by_key}, budget)
    assert by_drag.startswith("data:image/png") and len({default[0], by_key, by_drag}) == 3
    assert drawn.count() == 1, "redrawn in place: still one figure below the sliders"


def test_retraining_phase_1_draws_live_curves_after_a_slider_moves(page, lab):
    budget = run_notebook(page, lab, "04_phase1_classifier.ipynb")
    epochs = slider(page, "epochs")
    controls = page.locator(".widget-vbox", has=epochs).last
    expect(epochs.locator(".widget-readout")).to_have_text("1")
    press_right(page, epochs)
    expect(epochs.locator(".widget-readout")).to_have_text("2")
    drag_right(page, epochs, 25)
    expect(epochs.locator(".widget-readout")).not_to_have_text("2")
    default = sources(page.locator(".jp-Cell", has=epochs).locator(".jp-OutputArea-output > img"))

    controls.get_by_role("button", name="retrain phase 1").click()
    output = controls.locator(".widget-output img")
    seen: set[str] = set()
    deadline = time.monotonic() + budget
    while not any(src.startswith("data:image/gif") for src in seen) and time.monotonic() < deadline:
        seen |= set(sources(output))
        time.sleep(0.2)
    assert any(src.startswith("data:image/gif") for src in seen), "the run ends with the heatmaps' animation"
    assert len({src for src in seen if src.startswith("data:image/png")}) >= 3, \
        "the curves and heatmaps are redrawn as the epochs pass"
    final_curves = sources(output)[0]
    assert final_curves.startswith("data:image/png") and final_curves not in default, \
        "more epochs than the default run: other curves (its first epoch, the same seed, draws as the default's)"
