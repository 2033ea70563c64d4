# Shared by the benchmark scripts (source it): statistics of a list of numbers
# given as one space-separated string, e.g. the per-round medians of one engine.
# median "3 1 2" -> 2 (mean of the middle two for an even count)
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
# range "3 1 2" -> 1-3 (rounded)
range() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR==1{a=$1} {b=$1} END{printf "%.0f-%.0f", a, b}'; }
