// Package report turns the JSON of `cowbook bench …` runs into one
// self-contained HTML page: inline SVG charts, inline CSS, no script, no
// network. It reads the conventions of docs/report.md, found at any depth
// of a benchmark's JSON object (nested names are joined with dots):
//
//	latency_curve, *_curve     [{percentile, value_ns}]  percentile curve, HDR-style axis
//	throughput_timeline,       [{t_ms, ops_per_sec}]     throughput over time
//	*_timeline
//	timeline_spans             [{start_ms, end_ms, label}] shaded on the timeline (a snapshot)
//	snapshot_load_ms,          numbers                   recovery breakdown bar
//	replay_ms, validate_ms,
//	recovery_ms (total)
//	floor_*, *_floor*,         numbers                   floors, shown beside the figures;
//	memcpy_*, lz4_*                                      floor_X pairs with X for a ratio
//	error                      string                    the benchmark failed
//
// Every other number, string or boolean is a figure in the table, formatted
// by its unit suffix (_ns, _us, _ms, _s, _bytes, _per_sec, _ratio).
package report
