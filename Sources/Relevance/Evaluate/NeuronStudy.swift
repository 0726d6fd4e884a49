/// Which image parts drive a unit rather than its neighbours (Gu et al. 2018, Sec. 4.4 and
/// Fig. 5): for the top units of a node, each unit's lrp and clrp2 maps; then, for each map, the
/// patch at its maximum replaced and the change of every studied unit's score measured. A map
/// that is specific to its unit lowers that unit most (a strong diagonal).
public struct NeuronStudy: Sendable {
  /// The studied units or channels, highest score first.
  public var units: [Int]
  /// Scores before ablation: the unit's value, or the channel's summed activation.
  public var scores: [Double]
  public var methods: [ExplanationMethod]
  /// maps[m][i]: method m's map for unit i (the input's per-image shape).
  public var maps: [[Tensor]]
  /// changes[m][i][j]: score of unit j minus its score after ablating the patch at the
  /// maximum of method m's map for unit i.
  public var changes: [[[Double]]]
  /// [x, y] of the patch centre per method and unit.
  public var centres: [[[Int]]]

  /// Studies the `count` top units of `node` on `input` (batch 1): patches of `patch`² input
  /// pixels replaced by `mean` (the mean input; zeros are the preprocessing's mean colour).
  public static func run(explainer: Explainer, input: Tensor, node: String, count: Int, patch: Int,
                         mean: Tensor, methods: [ExplanationMethod] = [.lrp, .clrp2]) throws -> NeuronStudy {
    let result = try explainer.explain(input, methods: methods, targets: .topNeurons(node: node, count: count))
    let units = result.maps.prefix(count).map { map -> Int in
      guard case .neuron(let n) = map.target, case .index(let i) = n.selection else { return -1 }
      return i
    }
    let layout = explainer.preprocessing?.layout ?? .nchw
    let before = try explainer.unitScores(input, node: node)
    var study = NeuronStudy(units: units, scores: units.map { before[$0] }, methods: methods, maps: [], changes: [], centres: [])
    for (m, _) in methods.enumerated() {
      var maps: [Tensor] = [], changes: [[Double]] = [], centres: [[Int]] = []
      for i in units.indices {
        let map = result.maps[m * units.count + i].relevance
        let at = PointingGame.maximum(try RelevanceMap(map, layout: layout))
        let ablated = Ablation.replacePatch(input, with: mean, centre: at, side: patch, layout: layout)
        let after = try explainer.unitScores(ablated, node: node)
        maps.append(map)
        centres.append([at.x, at.y])
        changes.append(units.map { before[$0] - after[$0] })
      }
      study.maps.append(maps)
      study.changes.append(changes)
      study.centres.append(centres)
    }
    return study
  }

  /// `method,ablated_unit,unit,change` rows.
  public var csv: String {
    var lines = ["method,ablated_unit,unit,score_before,change"]
    for (m, method) in methods.enumerated() {
      for (i, u) in units.enumerated() {
        for (j, v) in units.enumerated() { lines.append("\(method),\(u),\(v),\(scores[j]),\(changes[m][i][j])") }
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

extension Explainer {
  /// The score of every unit of `node` for `input`: the value of a dense unit, or the summed
  /// activation of a channel.
  public func unitScores(_ input: Tensor, node: String) throws -> [Double] {
    let graph = try self.graph(inputShape: input.shape)
    let value = try Explainer.value(named: node, in: graph)
    let plan = try self.plan(for: .lrp, inputShape: input.shape, keep: [value])
    let a = try plan.forward.run(input, keep: [value])[value]!
    let units = a.shape.count > 1 ? a.shape[1] : a.count
    let per = a.count / max(units, 1)
    return (0..<units).map { u in (0..<per).reduce(0.0) { $0 + Double(a.data[u * per + $1]) } }
  }
}
