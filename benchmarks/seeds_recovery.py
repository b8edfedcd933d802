"""Recovery of the seeds' planted effects on fresh samples (seeds 101, 303, 505 and a null one).

    python benchmarks/seeds_recovery.py [FOLDER]

Writes the four samples under FOLDER (default /tmp/parcours_recovery) and prints, for each, the
planted effect (truth.json) beside what each analysis flags: designed vs lived journeys, moments of
truth, contact pressure, the cost of a friction. The tests check the same on the same seeds.
"""

import sys
import warnings

import pandas as pd

import parcours_research as pr

warnings.simplefilter("ignore")
pd.set_option("display.width", 200)
root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/parcours_recovery"
paths = {
    s: pr.sample.make_sample(f"{root}/seed{s}", seed=s, overwrite=True) for s in (101, 303, 505)
}
paths["null"] = pr.sample.make_sample(f"{root}/null", seed=404, effects="null", overwrite=True)
for key, p in paths.items():
    st = pr.load_study(p)
    t = st.truth
    print(f"\n=== sample {key} ===")
    conf = pr.journey.conformance(st)
    s = conf.summary
    print(
        "to_be_deviation:",
        t["to_be_deviation"]
        and {k: t["to_be_deviation"][k] for k in ("persona", "touchpoint", "sat_shift")},
    )
    print(
        s[s.significant][
            [
                "persona",
                "deviation",
                "n_with",
                "n_without",
                "sat_diff",
                "ci_low",
                "ci_high",
                "p_adj",
            ]
        ].to_string()
    )
    mot = pr.satisfaction.moments_of_truth(st)
    m = mot.summary
    print(
        "undeclared_moment_of_truth:",
        t["undeclared_moment_of_truth"]
        and {
            k: t["undeclared_moment_of_truth"][k] for k in ("persona", "touchpoint", "coefficient")
        },
    )
    print(
        m[m.verdict == "undeclared driver"][
            ["persona", "touchpoint", "importance", "ci_low", "ci_high", "p_adj"]
        ].to_string()
    )
    cp = pr.traces.contact_pressure(st)
    print(
        "contact_pressure:",
        t["contact_pressure"]
        and {
            k: t["contact_pressure"].get(k)
            for k in ("persona", "channel", "threshold", "sat_shift")
        },
    )
    print(cp.flagged().to_string())
    at = pr.outcomes.at_stake(st, outcome="churned", n_boot=499)
    print(
        "churn_effect:",
        t["churn_effect"]
        and {k: t["churn_effect"].get(k) for k in ("persona", "touchpoint", "difference")},
    )
    print(at.flagged.to_string())
