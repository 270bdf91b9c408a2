"""`python -m repro.buildkit.variations`: the table of variations (docs/variations.md)."""

from repro.buildkit.variations import table

rows = table()
cols = ["name", "reprotest", "default", "where", "changes", "needs"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for row in rows:
    print("| " + " | ".join(row[c] for c in cols) + " |")
