import re


def test_counts_per_fold(clean):
    checked = clean("emer")
    (er7,) = [
        f
        for f in checked.report.findings
        if f.check == "label-distribution" and f.problem.startswith("er7 per fold")
    ]
    assert er7.severity == "info"
    counts = [int(n) for n in re.findall(r"[A-Za-z]+ (\d+)", er7.problem.split("—", 1)[1])]
    assert sum(counts) == checked.report.n_samples
    assert all(f"{k}:" in er7.problem for k in range(1, 6))
