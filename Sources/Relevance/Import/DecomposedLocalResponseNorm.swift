/// Recognises torch's export of `nn.LocalResponseNorm(size, alpha, beta, k)` and replaces it by
/// one ONNX `LRN` node record, before the importer makes IR nodes.
///
/// torch does not export LocalResponseNorm as ONNX LRN; both exporters write
/// y = x / (k + alpha · avg)^beta, avg = (1/size) Σ of x² over a window of `size` channels:
/// ```
/// s = Mul(x, x)                          x of shape [N, C, H, W]
/// r = Reshape(s, [N, 1, C, H, W])         target constant or computed from Shape (dynamic N)
/// q = Pad(r, pads)                        zeros: size/2 channels before, (size−1)/2 after
/// p = AveragePool(q, kernel [size, 1, 1], strides 1, count_include_pad 1)
/// a = Squeeze(p, axes [1])                dynamo; legacy: If(Equal(Gather(Shape(p), 1), 1))
///                                         whose then-branch is this Squeeze and else-branch
///                                         an Identity, then Reshape(·, [N, C, H, W])
/// y = Div(x, Pow(Add(Mul(a, alpha), k), beta))
/// ```
/// (Identity nodes may sit between any two steps; scalars may be initializers or Constant
/// nodes; Squeeze's axes an attribute before opset 13, an input from 13 on.) That is ONNX
/// LRN(size, alpha, beta, bias = k) when the window is placed alike: torch pads ⌊size/2⌋
/// channels before and ⌊(size−1)/2⌋ after, ONNX LRN sums ⌊(size−1)/2⌋ before and
/// ⌈(size−1)/2⌉ after. These agree for odd sizes (every published network); an even size is
/// refused, naming the node, rather than computed with a window one channel off.
///
/// The anchor is an AveragePool with a 3-D kernel [size, 1, 1] fed by Pad ← Reshape ←
/// Mul(x, x): a model holding it and no other match is refused with "looks like torch's
/// decomposed LocalResponseNorm but ...", never imported half-rewritten. Which axis the window
/// slides along depends on the reshape targets and pads, which may be computed from shapes:
/// the LRN record keeps them as extra inputs (`[x, target5D, pads, target4D?]`, marked by
/// `markerAttribute`), and `Passes/CheckDecomposedLRN.swift` checks them once shapes are
/// bound (target5D = [N, 1, C, H, W], pads as above, target4D = [N, C, H, W]) and drops them.
struct DecomposedLocalResponseNorm {
  /// Attribute that marks an LRN record made here (ONNX LRN has one input; this one carries
  /// the values the check pass needs).
  static let markerAttribute = "clrp::torch_decomposition"

  typealias Record = ONNXFile.NodeRecord
  let path: String
  var nodes: [Record]
  var constants: [String: Constant]

  /// Rewrites every decomposed LocalResponseNorm in `file`'s nodes; throws when one is only
  /// partly recognised.
  static func rewrite(_ file: ONNXFile) throws -> [Record] {
    var rewriter = DecomposedLocalResponseNorm(path: file.path, nodes: file.nodes, constants: file.initializers)
    for record in file.nodes where record.opType == "Constant" {
      if case .tensor(let t)? = record.attributes["value"] { rewriter.constants[record.outputs[0]] = t }
      if case .float(let f)? = record.attributes["value_float"] { rewriter.constants[record.outputs[0]] = Constant(shape: [], floats: [f]) }
      if case .floats(let f)? = record.attributes["value_floats"] { rewriter.constants[record.outputs[0]] = Constant(shape: [f.count], floats: f) }
      if case .int(let i)? = record.attributes["value_int"] { rewriter.constants[record.outputs[0]] = Constant(shape: [], ints: [i]) }
      if case .ints(let i)? = record.attributes["value_ints"] { rewriter.constants[record.outputs[0]] = Constant(shape: [i.count], ints: i) }
    }
    while let anchor = rewriter.nextAnchor() { try rewriter.replace(anchor) }
    return rewriter.nodes
  }

  // MARK: Looking around

  private func producer(_ value: String) -> Record? { nodes.first { $0.outputs.contains(value) } }
  private func consumers(_ value: String) -> [Record] {
    nodes.filter { $0.inputs.contains(value) || $0.subgraphInputs.contains(value) }
  }
  /// The producer of `value` past any Identity nodes, and the Identity nodes passed.
  private func producerSkippingIdentities(_ value: String) -> (Record?, [Record]) {
    var skipped: [Record] = []
    var record = producer(value)
    while let r = record, r.opType == "Identity", r.inputs.count == 1 {
      skipped.append(r)
      record = producer(r.inputs[0])
    }
    return (record, skipped)
  }
  /// A constant value, through Identity nodes.
  private func constant(_ value: String) -> Constant? {
    if let c = constants[value] { return c }
    if let p = producer(value), p.opType == "Identity", p.inputs.count == 1 { return constant(p.inputs[0]) }
    return nil
  }
  private func scalar(_ value: String) -> Float? {
    guard let c = constant(value), c.count == 1 else { return nil }
    return c.floats[0]
  }
  private func int(_ name: String, of record: Record) -> Int? {
    if case .int(let i)? = record.attributes[name] { return i }
    return nil
  }
  private func ints(_ name: String, of record: Record) -> [Int]? {
    if case .ints(let i)? = record.attributes[name] { return i }
    return nil
  }

  // MARK: Matching

  /// The front of the pattern: AveragePool(Pad(Reshape(Mul(x, x)))) with a [size, 1, 1] kernel.
  struct Anchor {
    var pool: Record, pad: Record, reshape: Record, square: Record
    var skipped: [Record]
    var x: String
    var size: Int
  }

  private func nextAnchor() -> Anchor? {
    for pool in nodes where pool.opType == "AveragePool" && pool.inputs.count == 1 {
      guard let kernel = ints("kernel_shape", of: pool), kernel.count == 3, kernel[1] == 1, kernel[2] == 1 else { continue }
      let (pad, s1) = producerSkippingIdentities(pool.inputs[0])
      guard let pad, pad.opType == "Pad", !pad.inputs.isEmpty else { continue }
      let (reshape, s2) = producerSkippingIdentities(pad.inputs[0])
      guard let reshape, reshape.opType == "Reshape", reshape.inputs.count == 2 else { continue }
      let (square, s3) = producerSkippingIdentities(reshape.inputs[0])
      guard let square, square.opType == "Mul", square.inputs.count == 2, square.inputs[0] == square.inputs[1] else { continue }
      return Anchor(pool: pool, pad: pad, reshape: reshape, square: square, skipped: s1 + s2 + s3,
                    x: square.inputs[0], size: kernel[0])
    }
    return nil
  }

  private func fail(_ record: Record, _ reason: String) -> ModelError {
    ModelError(file: path, node: record.name, opType: record.opType,
               "looks like torch's decomposed LocalResponseNorm but \(reason)")
  }

  /// Replaces the nodes from `anchor.square` to the final Div by one LRN record.
  private mutating func replace(_ anchor: Anchor) throws {
    let pool = anchor.pool, size = anchor.size
    guard size % 2 == 1 else {
      throw fail(pool, "its size \(size) is even: torch places an even window \(size / 2) channels before and \((size - 1) / 2) after, ONNX LRN \((size - 1) / 2) before and \(size / 2) after, and clrp's LRN supports the ONNX window only (odd sizes agree)")
    }
    guard int("count_include_pad", of: pool) == 1 else { throw fail(pool, "count_include_pad is not 1") }
    guard (ints("strides", of: pool) ?? [1, 1, 1]) == [1, 1, 1], (ints("pads", of: pool) ?? [0, 0, 0, 0, 0, 0]).allSatisfy({ $0 == 0 }),
          (ints("dilations", of: pool) ?? [1, 1, 1]) == [1, 1, 1], (int("ceil_mode", of: pool) ?? 0) == 0 else {
      throw fail(pool, "its strides, pads, dilations or ceil_mode differ from 1, 0, 1 and 0")
    }
    if case .string(let autoPad)? = pool.attributes["auto_pad"], autoPad != "NOTSET" { throw fail(pool, "auto_pad is '\(autoPad)'") }
    var added: [String: Constant] = [:]
    let pad = anchor.pad
    if case .string(let mode)? = pad.attributes["mode"], mode != "constant" { throw fail(pad, "pad mode is '\(mode)'") }
    let padsValue: String
    if let pads = ints("pads", of: pad) {
      padsValue = "\(pad.name)::pads"
      added[padsValue] = Constant(shape: [pads.count], ints: pads)
      if case .float(let v)? = pad.attributes["value"], v != 0 { throw fail(pad, "it pads with \(v), not 0") }
    } else {
      guard pad.inputs.count >= 2, !pad.inputs[1].isEmpty else { throw fail(pad, "the Pad has no pads") }
      guard pad.inputs.count < 4 else { throw fail(pad, "the Pad has an axes input") }
      padsValue = pad.inputs[1]
      if pad.inputs.count == 3, !pad.inputs[2].isEmpty, scalar(pad.inputs[2]) != 0 {
        throw fail(pad, "its pad value '\(pad.inputs[2])' is not a constant 0")
      }
    }

    // Forward from the pool: Squeeze, or the legacy If (with the Shape → Gather → Equal that
    // computes its condition), then optional Identity and Reshape nodes.
    var matched = [anchor.square, anchor.reshape, pad, pool] + anchor.skipped
    var poolOut = pool.outputs[0]
    while case let users = consumers(poolOut), users.count == 1, users[0].opType == "Identity" {
      matched.append(users[0])
      poolOut = users[0].outputs[0]
    }
    let poolUsers = consumers(poolOut)
    var squeezed: String
    if poolUsers.count == 1, poolUsers[0].opType == "Squeeze" {
      let squeeze = poolUsers[0]
      guard try squeezeAxes(squeeze) == [1], squeeze.inputs[0] == poolOut else { throw fail(squeeze, "the Squeeze does not remove axis 1 alone") }
      matched.append(squeeze)
      squeezed = squeeze.outputs[0]
    } else if let branch = poolUsers.first(where: { $0.opType == "If" }) {
      let conditionNodes = try legacyCondition(branch, pool: poolOut)
      guard Set(poolUsers.map(\.name)) == Set([branch.name, conditionNodes[0].name]) else {
        throw fail(pool, "the AveragePool output has other users (\(poolUsers.map(\.name)))")
      }
      matched += [branch] + conditionNodes
      squeezed = branch.outputs[0]
    } else {
      throw fail(pool, "the AveragePool feeds \(poolUsers.map { "\($0.opType) '\($0.name)'" }) instead of a Squeeze of axis 1")
    }
    var backTarget: String? = nil
    while true {
      let users = consumers(squeezed)
      guard users.count == 1 else { throw fail(matched.last!, "its output '\(squeezed)' has \(users.count) users") }
      let user = users[0]
      if user.opType == "Identity" {
        matched.append(user); squeezed = user.outputs[0]
      } else if user.opType == "Reshape", backTarget == nil, user.inputs.count == 2, user.inputs[0] == squeezed {
        matched.append(user); backTarget = user.inputs[1]; squeezed = user.outputs[0]
      } else {
        break
      }
    }

    /// The one user of `value` (past Identity nodes), which must be one of `opTypes`, and the value it reads.
    func single(_ value: String, _ opTypes: [String]) throws -> (Record, String) {
      var current = value
      let expected = opTypes.joined(separator: " or ")
      while true {
        let users = consumers(current)
        guard users.count == 1 else { throw fail(matched.last!, "'\(current)' has \(users.count) users where one \(expected) was expected") }
        if users[0].opType == "Identity" { matched.append(users[0]); current = users[0].outputs[0]; continue }
        guard opTypes.contains(users[0].opType), users[0].inputs.count == 2 else {
          throw fail(users[0], "\(users[0].opType) '\(users[0].name)' stands where \(expected) was expected")
        }
        matched.append(users[0])
        return (users[0], current)
      }
    }
    func otherScalar(_ record: Record, besides value: String) throws -> Float {
      let other = record.inputs[0] == value ? record.inputs[1] : record.inputs[0]
      guard let v = scalar(other) else { throw fail(record, "'\(other)' is not a constant scalar") }
      return v
    }
    // y = Div(x, Pow(Add(Mul(a, alpha), k), beta)), constants on either side of Mul and Add.
    // torch's alpha multiplies the mean, ONNX LRN's alpha/size the sum: the same number. The
    // dynamo exporter's optimizer drops a Mul by alpha = 1, an Add of k = 0, a Pow of beta = 1.
    var (step, stepInput) = try single(squeezed, ["Mul", "Add", "Pow", "Div"])
    var alpha: Float = 1, bias: Float = 0, beta: Float = 1
    if step.opType == "Mul" {
      alpha = try otherScalar(step, besides: stepInput)
      (step, stepInput) = try single(step.outputs[0], ["Add", "Pow", "Div"])
    }
    if step.opType == "Add" {
      bias = try otherScalar(step, besides: stepInput)
      (step, stepInput) = try single(step.outputs[0], ["Pow", "Div"])
    }
    if step.opType == "Pow" {
      guard step.inputs[0] == stepInput else { throw fail(step, "the normalizer is its exponent, not its base") }
      guard let exponent = scalar(step.inputs[1]) else { throw fail(step, "its exponent '\(step.inputs[1])' is not a constant scalar") }
      beta = exponent
      (step, stepInput) = try single(step.outputs[0], ["Div"])
    }
    let (divide, divisor) = (step, stepInput)
    guard divide.inputs[0] == anchor.x, divide.inputs[1] == divisor else {
      throw fail(divide, "it divides '\(divide.inputs[0])', not the squared input '\(anchor.x)'")
    }
    for record in matched.dropLast() {
      for output in record.outputs where consumers(output).contains(where: { user in !matched.contains { $0.name == user.name } }) {
        throw fail(record, "its output '\(output)' is also used outside the pattern")
      }
    }

    let attributes: [String: ONNXFile.Attribute.Value] = [
      "size": .int(size), "alpha": .float(alpha), "beta": .float(beta), "bias": .float(bias),
      Self.markerAttribute: .int(1),
    ]
    let lrn = Record(name: divide.name, opType: "LRN", domain: "", inputs: [anchor.x, anchor.reshape.inputs[1], padsValue] + (backTarget.map { [$0] } ?? []),
                     outputs: divide.outputs, attributes: attributes)
    let removed = Set(matched.map(\.name))
    let position = nodes.firstIndex { $0.name == divide.name }!
    nodes[position] = lrn
    nodes.removeAll { removed.contains($0.name) && $0.name != divide.name }
    // Pads given as an attribute (Pad before opset 11) become a Constant record.
    for (name, value) in added {
      nodes.insert(Record(name: name, opType: "Constant", domain: "", inputs: [], outputs: [name], attributes: ["value": .tensor(value)]), at: 0)
    }
  }

  private func squeezeAxes(_ squeeze: Record) throws -> [Int]? {
    if let axes = ints("axes", of: squeeze) { return axes }
    guard squeeze.inputs.count == 2 else { return nil }
    guard let axes = constant(squeeze.inputs[1]) else { throw fail(squeeze, "its axes '\(squeeze.inputs[1])' are not a constant") }
    return axes.ints
  }

  /// Checks the legacy exporter's If: condition Equal(Gather(Shape(p), 1), 1), then-branch
  /// Squeeze(p, axes [1]) (its axes a Constant inside the branch or an attribute), else-branch
  /// anything (not taken: the check pass proves p's axis 1 has size 1). Returns the condition's
  /// nodes, Shape first.
  private func legacyCondition(_ branch: Record, pool: String) throws -> [Record] {
    guard branch.inputs.count == 1 else { throw fail(branch, "the If has \(branch.inputs.count) inputs") }
    let (equal, s1) = producerSkippingIdentities(branch.inputs[0])
    guard let equal, equal.opType == "Equal", equal.inputs.count == 2 else { throw fail(branch, "the If's condition is not an Equal") }
    let (gather, s2) = producerSkippingIdentities(equal.inputs[0])
    guard let gather, gather.opType == "Gather", gather.inputs.count == 2, constant(equal.inputs[1])?.ints == [1] else {
      throw fail(equal, "the If's condition is not Equal(Gather(Shape(pool output), 1), 1)")
    }
    let (shape, s3) = producerSkippingIdentities(gather.inputs[0])
    guard let shape, shape.opType == "Shape", shape.inputs == [pool], (int("axis", of: gather) ?? 0) == 0,
          constant(gather.inputs[1])?.ints == [1], (int("start", of: shape) ?? 0) == 0, shape.attributes["end"] == nil else {
      throw fail(gather, "the If's condition is not Equal(Gather(Shape(pool output), 1), 1)")
    }
    guard case .graph(let then)? = branch.attributes["then_branch"], then.outputs.count == 1, then.initializerCount == 0 else {
      throw fail(branch, "the If has no then-branch with one output")
    }
    var branchConstants: [String: Constant] = [:]
    var squeezeNode: Record? = nil
    for record in then.nodes {
      switch record.opType {
      case "Constant":
        guard case .tensor(let t)? = record.attributes["value"] else { throw fail(branch, "its then-branch has a non-tensor Constant") }
        branchConstants[record.outputs[0]] = t
      case "Squeeze" where squeezeNode == nil: squeezeNode = record
      default: throw fail(branch, "its then-branch holds \(record.opType) '\(record.name)', not just a Squeeze")
      }
    }
    guard let squeezeNode, squeezeNode.inputs.first == pool, squeezeNode.outputs == then.outputs else {
      throw fail(branch, "its then-branch does not squeeze the AveragePool output")
    }
    let axes = ints("axes", of: squeezeNode) ?? (squeezeNode.inputs.count == 2 ? (branchConstants[squeezeNode.inputs[1]] ?? constant(squeezeNode.inputs[1]))?.ints : nil)
    guard axes == [1] else { throw fail(branch, "its then-branch squeezes axes \(axes.map { "\($0)" } ?? "(all unit axes)"), not [1]") }
    return [shape, gather, equal] + s1 + s2 + s3
  }
}

extension ONNXFile.NodeRecord {
  /// Values a subgraph attribute (If's branches) reads from the enclosing graph.
  var subgraphInputs: [String] {
    attributes.values.flatMap { value -> [String] in
      guard case .graph(let g) = value else { return [] }
      let produced = Set(g.nodes.flatMap(\.outputs))
      return g.nodes.flatMap(\.inputs).filter { !$0.isEmpty && !produced.contains($0) } + g.nodes.flatMap(\.subgraphInputs)
    }
  }
}
