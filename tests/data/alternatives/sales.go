package sales

import "strings"

// TotalByRegion sums the amounts of each region.
func TotalByRegion(lines []string) map[string]float64 {
	totals := make(map[string]float64)
	for _, line := range lines {
		parts := strings.Split(line, ",")
		if len(parts) != 2 {
			continue
		}
		totals[parts[0]] += parseAmount(parts[1])
	}
	return totals
}
