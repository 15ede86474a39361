const fs = require("fs");

function readSales(path) {
  const totals = {};
  const lines = fs.readFileSync(path, "utf8").split("\n");
  for (const line of lines.slice(1)) {
    const [region, amount] = line.split(",");
    totals[region] = (totals[region] || 0) + Number(amount);
  }
  return totals;
}

function bestRegion(totals) {
  return Object.keys(totals).reduce((a, b) => (totals[a] > totals[b] ? a : b));
}

module.exports = { readSales, bestRegion };
