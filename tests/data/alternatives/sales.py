import csv
from collections import defaultdict


def read_sales(path):
    """Summarise a CSV file of sales by region."""
    totals = defaultdict(float)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            amount = float(row["amount"])
            totals[row["region"]] += amount
    return dict(totals)


def best_region(totals):
    return max(totals, key=totals.get)
