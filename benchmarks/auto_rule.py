"""Which backend wins on this CPU: the evidence behind `auto`'s rules (simvec.encoders.auto).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/auto_rule.py [--rounds 9]

Runs what `auto` does on a CPU no rule covers (every candidate checked against torch, then a timing race of
interleaved rounds on 100 of simvec's calibration texts, in one process, so the ratios share one moment's load)
and prints, per candidate, texts/s, the ratio to the rule's first choice in the same run and the check's figures;
then the rule this CPU falls under and whether the race agrees with it.
"""

from __future__ import annotations

import argparse

from simvec.encoders import auto
from simvec.encoders.models import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=auto.RACE_ROUNDS)
    args = parser.parse_args()
    auto.RACE_ROUNDS = args.rounds
    flags = auto.cpu_flags()
    rule = auto.cpu_rule(flags)
    decision, _ = auto.evaluate_candidates(resolve_model(None), auto.Tolerance(), None)
    report = decision["candidates"]
    anchor = rule.order[0] if rule.order else decision["chosen"]
    print(f"CPU features: {', '.join(f for f in auto.KEY_FLAGS if f in (flags or ())) or 'unknown'}")
    print(f"rule: {rule.name} ({rule.why})")
    print(f"\n| backend | texts/s | × {anchor} | min cosine | pair Δ | top-10 overlap | alone-vs-batch | passed |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, result in report.items():
        if "error" in result:
            print(f"| {name} | unavailable: {result['error']} | | | | | | no |")
            continue
        speed = result.get("texts_per_s")
        ratio = f"{speed / report[anchor]['texts_per_s']:.2f}" if speed and report[anchor].get("texts_per_s") else ""
        print(
            f"| {name} | {speed or ''} | {ratio} | {result['min_cosine']:.4f} | {result['max_pair_delta']:.4f} | "
            f"{result['rank_overlap']:.3f} | {result['batch_cosine']:.5f} | {'yes' if result['passed'] else 'no'} |"
        )
    ruled = next((n for n in rule.order if report.get(n, {}).get("passed")), None) if rule.order else None
    verdict = "agrees" if ruled in (None, decision["chosen"]) else "DISAGREES"
    print(
        f"\nrace ({auto.RACE_ROUNDS} rounds, margin ×{auto.Tolerance().race_margin}): {decision['chosen']}; "
        f"rule: {ruled or 'none (race)'} — the race {verdict} with the rule"
    )


if __name__ == "__main__":
    main()
