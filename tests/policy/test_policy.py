"""The policy's plumbing: features, training on small hand-made decisions, acting."""

from __future__ import annotations

import random
from pathlib import Path

from workscribe.policy.features import ACTION_CLASSES, Observation, candidates, quoted
from workscribe.policy.train import Example, PolicyAgent, target_element, train
from workscribe.process.reduce import SECURE_TEXT

WORDS = ["ok", "cancel", "submit", "next", "yes", "no", "back", "save", "open", "close", "delete", "apply"]


def _page(rng: random.Random, n: int = 4) -> list[dict]:
    labels = rng.sample(WORDS, n)
    return [{"tag": "button", "text": w, "box": [10 + 40 * i, 60, 35, 20]} for i, w in enumerate(labels)]


def _field(focused: bool, name: str, kind: str = "text") -> dict:
    return {"tag": "input", "type": kind, "name": name, "focused": focused, "box": [10, 20, 100, 20]}


def decisions(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        split = "validation" if i % 5 == 0 else "train"
        if i % 3 == 0:  # click the named button
            page = _page(rng)
            target = rng.randrange(len(page))
            obs = Observation(f'Click on the "{page[target]["text"]}" button.', page)
            x, y, w, h = page[target]["box"]
            ex = Example(obs, ACTION_CLASSES.index("click"), element=target, split=split)
            ex.gold = {"episode_id": f"e{i}", "step": 0, "screen_w": 500, "screen_h": 300, "target_box": [
                x, y, x + w, y + h], "action": {"type": "click", "x": x + 3, "y": y + 3}}
            out.append(ex)
        elif i % 3 == 1:  # type the quoted word into the focused field
            word = rng.choice(WORDS) + str(rng.randrange(100))
            obs = Observation(f'Enter "{word}" into the field.', [_field(True, "answer")],
                              history=[{"type": "click", "element": None}])
            texts = [c.text for c in candidates(obs)]
            out.append(Example(obs, ACTION_CLASSES.index("type"), span=texts.index(word), split=split))
        else:  # a password field is focused: the secret is typed, never learnt
            obs = Observation('Log in as "bob" with password "x1y2".', [_field(True, "password", "password")],
                              history=[{"type": "click", "element": None}])
            texts = [c.text for c in candidates(obs)]
            out.append(Example(obs, ACTION_CLASSES.index("type"), span=texts.index(SECURE_TEXT), split=split))
    return out


def test_candidates_hold_quoted_strings_words_and_the_secret() -> None:
    obs = Observation('Enter "jane doe" and press Submit.', [_field(True, "name")])
    texts = [c.text for c in candidates(obs)]
    assert texts[0] == "jane doe" and "Submit" in texts and texts[-1] == SECURE_TEXT
    assert quoted('say "a" or \'b c\'') == ["a", "b c"]


def test_the_click_target_is_the_smallest_box_holding_the_point() -> None:
    els = [{"box": [0, 0, 100, 100]}, {"box": [10, 10, 20, 20]}, {"box": [50, 50, 5, 5]}]
    assert target_element(els, 15, 15) == 1 and target_element(els, 90, 90) == 0
    assert target_element(els, 200, 5) is None and target_element(els, None, 5) is None


def test_the_policy_learns_small_decisions_and_acts_on_new_ones(tmp_path: Path) -> None:
    report = train(decisions(240, seed=1), tmp_path / "m", epochs=8, seed=0)
    assert report["curve"][-1]["loss"] < report["curve"][0]["loss"]
    assert report["curve"][-1]["validation_accuracy"] >= 0.9, report["curve"]
    scores = report["held_out_scores"]  # workscribe score's metrics on the held-out clicks
    assert scores["model"]["counts"]["steps"] == 16 and scores["model"]["click_score"] >= 0.9
    assert set(scores["baselines"]) == {"most_frequent", "repeat_last"}
    agent = PolicyAgent(tmp_path / "m")
    right = 0
    fresh = decisions(60, seed=7)
    for ex in fresh:
        action = agent.act(ex.obs)
        if ex.element is not None:
            box = ex.obs.elements[ex.element]["box"]
            right += action["type"] == "click" and box[0] <= action["x"] <= box[0] + box[2]
        else:
            right += action["type"] == "type" and action["text"] == candidates(ex.obs)[ex.span].text
    assert right / len(fresh) >= 0.9
