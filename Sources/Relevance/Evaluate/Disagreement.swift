/// Where explanation methods disagree: the pointing-game cases (image, class) whose methods'
/// results differ most, for the report's gallery.
///
/// For a case and method m, h_m is the method's hit fraction over the energies (hits / number
/// of energies). The case's score is the population variance of h_m over the methods:
/// (1/M) Σ (h_m − mean h)². Only explanation methods count (`center` and `random` know nothing
/// of the network); when fewer than two explanation methods were run, every method counts.
public struct DisagreementCase: Equatable, Sendable {
  /// The record's image index in the dataset, its file and the class.
  public var index: Int
  public var image: String
  public var `class`: Int
  public var score: Double
  /// Per method (in the run's order): its energy hits and its classic-game hit.
  public var results: [(method: String, hits: [Bool], point: Bool?)]

  public static func == (a: DisagreementCase, b: DisagreementCase) -> Bool {
    a.index == b.index && a.image == b.image && a.class == b.class && a.score == b.score
      && a.results.map(\.method) == b.results.map(\.method) && a.results.map(\.hits) == b.results.map(\.hits)
      && a.results.map(\.point) == b.results.map(\.point)
  }

  /// The `top` cases of the highest score among the pointing `records` (records with an error
  /// and cases without hits are left out), ties in order of image index then class.
  public static func rank(_ records: [EvaluationRecord], methods: [String], top: Int) -> [DisagreementCase] {
    let explaining = methods.filter { BaselineMap(rawValue: $0) == nil }
    let scored = explaining.count >= 2 ? explaining : methods
    var cases: [DisagreementCase] = []
    for record in records where record.error == nil {
      var classes: [Int] = []
      for c in record.cases where !classes.contains(c.class) { classes.append(c.class) }
      for c in classes {
        let results = methods.compactMap { m -> (method: String, hits: [Bool], point: Bool?)? in
          guard let found = record.cases.first(where: { $0.class == c && $0.method == m }), let hits = found.hits else { return nil }
          return (m, hits, found.point)
        }
        let fractions = results.filter { scored.contains($0.method) && !$0.hits.isEmpty }
          .map { Double($0.hits.filter { $0 }.count) / Double($0.hits.count) }
        guard !fractions.isEmpty else { continue }
        let mean = fractions.reduce(0, +) / Double(fractions.count)
        let variance = fractions.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(fractions.count)
        cases.append(DisagreementCase(index: record.index, image: record.image, class: c, score: variance, results: results))
      }
    }
    cases.sort { ($0.score, -$0.index, -$0.class) > ($1.score, -$1.index, -$1.class) }
    return Array(cases.prefix(max(top, 0)))
  }
}
