/// The names of `candidates` closest to `name`, for "did you mean" hints: those within an edit
/// distance (Levenshtein: insertions, deletions, substitutions; case ignored) of a third of
/// `name`'s length, at least 1, closest first and then in `candidates` order; at most `limit`.
/// Names longer than 64 characters get no suggestion (they are no typo of a short name, and
/// the distance costs their length times each candidate's).
func closestNames(to name: String, among candidates: [String], limit: Int = 3) -> [String] {
  let word = Array(name.lowercased())
  guard !word.isEmpty, word.count <= 64 else { return [] }
  let bound = max(1, word.count / 3)
  let ranked = candidates.enumerated().compactMap { index, candidate -> (distance: Int, index: Int, name: String)? in
    let d = editDistance(word, Array(candidate.lowercased()))
    return d <= bound ? (d, index, candidate) : nil
  }
  return ranked.sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }.prefix(limit).map(\.name)
}

/// Levenshtein distance: the fewest single-character insertions, deletions and substitutions
/// that turn `a` into `b` (one row of the dynamic programme at a time).
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
  // previous[j]: the distance from the first i characters of a to the first j of b.
  var previous = Array(0...b.count)
  for (i, x) in a.enumerated() {
    var current = [i + 1]
    for (j, y) in b.enumerated() {
      current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
    }
    previous = current
  }
  return previous[b.count]
}
