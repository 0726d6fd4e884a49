/// Shape inference and constant folding in one walk over the (topologically sorted) nodes.
///
/// Needs `graph.shapes[graph.input]`. Every Shape node, and every data-movement or arithmetic
/// node (reshapes, Cast, Transpose, Gather, Slice, Concat, elementwise, ConstantOfShape) whose
/// inputs are all constant, is evaluated and replaced by a constant: this resolves the Shape →
/// Gather → Unsqueeze → Concat → Reshape chains exporters emit. Every other node (layers on
/// constants included) gets its output shape;
/// `auto_pad` is resolved into explicit pads. Shapes follow the ONNX operator specification.
///
/// Every value gets a non-empty shape (a zero-sized dimension is an error naming the node),
/// and nothing is folded or inferred that would not fit `budget` (see `MemoryBudget`).
public struct InferShapes: GraphPass {
  public var budget: MemoryBudget

  public init(budget: MemoryBudget = .current) { self.budget = budget }
  public var name: String { "infer-shapes" }

  public func run(on graph: inout Graph) throws -> Bool {
    precondition(graph.shapes[graph.input] != nil, "bind the input shape before inferring shapes")
    var changed = false
    var kept: [Node] = []
    kept.reserveCapacity(graph.nodes.count)
    var folded = 0
    for var node in graph.nodes {
      var inference = NodeShapes(graph: graph, node: node, budget: budget, foldedBytes: folded)
      if let folded = try inference.fold() {
        guard node.outputs.count == 1 else { throw graph.error(node, "cannot fold a node with several outputs") }
        graph.constants[node.output] = folded
        changed = true
        continue
      }
      folded = inference.foldedBytes
      let shape = try inference.outputShape()
      if inference.op != node.op { node.op = inference.op; changed = true }
      guard plausibleElementCount(shape) != nil else {
        throw graph.error(node, "computed an invalid or implausibly large output shape \(shape)")
      }
      guard !shape.contains(0) else {
        throw graph.error(node, "computed the empty output shape \(shape): zero-sized dimensions are not supported")
      }
      guard budget.allows(Estimate.bytes(shape, 4)) else {
        throw graph.error(node, budget.refusal("its output of shape \(shape)", needs: Estimate.bytes(shape, 4)))
      }
      for output in node.outputs { graph.shapes[output] = shape }
      kept.append(node)
    }
    graph.nodes = kept
    return changed
  }
}

/// Shape rules and folding for one node, against the shapes and constants known so far.
struct NodeShapes {
  let graph: Graph
  let node: Node
  /// The node's op, with anything resolved during inference (auto_pad) written in.
  var op: Op
  let budget: MemoryBudget
  /// Bytes of the constants folded so far in this walk (this node's included once folded).
  var foldedBytes: Int

  init(graph: Graph, node: Node, budget: MemoryBudget = .unlimited, foldedBytes: Int = 0) {
    self.graph = graph
    self.node = node
    self.op = node.op
    self.budget = budget
    self.foldedBytes = foldedBytes
  }

  /// Checks, before folding, that a constant of `shape` (with its index arrays: about
  /// `bytesPerElement` per element) fits the memory budget, and counts it.
  mutating func reserveFold(_ shape: [Int], bytesPerElement: Int = 16) throws {
    guard plausibleElementCount(shape) != nil else { throw fail("constant folding would compute the invalid or implausibly large shape \(shape)") }
    let bytes = Estimate.bytes(shape, bytesPerElement)
    guard let total = Estimate.sum(foldedBytes, bytes), budget.allows(total) else {
      throw fail(budget.refusal("constant folding (a constant of shape \(shape))", needs: Estimate.sum(foldedBytes, bytes)))
    }
    foldedBytes = total
  }

  func fail(_ message: String) -> ModelError { graph.error(node, message) }

  func shape(_ index: Int) throws -> [Int] {
    guard index < node.inputs.count, !node.inputs[index].isEmpty else { throw fail("missing input \(index)") }
    let name = node.inputs[index]
    if let c = graph.constants[name] { return c.shape }
    if let s = graph.shapes[name] { return s }
    throw fail("shape of input '\(name)' is unknown")
  }

  func constant(_ index: Int) -> Constant? { graph.constant(node, index) }

  func requireConstant(_ index: Int, _ what: String) throws -> Constant {
    guard let c = constant(index) else {
      throw fail("\(what) (input \(index), '\(index < node.inputs.count ? node.inputs[index] : "")') must be a constant or computable from shapes")
    }
    return c
  }

  func axis(_ axis: Int, rank: Int) throws -> Int {
    guard let a = normalizedAxis(axis, rank: rank) else { throw fail("axis \(axis) is out of range for rank \(rank)") }
    return a
  }

  // MARK: Folding

  /// The node's value when it can be computed now, else nil.
  mutating func fold() throws -> Constant? {
    if case .shape(let start, let end) = op {
      let s = try shape(0)
      let lo = clampedBound(start, s.count), hi = clampedBound(end ?? s.count, s.count)
      let dims = lo < hi ? Array(s[lo..<hi]) : []
      return Constant(shape: [dims.count], ints: dims)
    }
    if case .constantOfShape(let value) = op, let dims = constant(0) {
      let outShape = dims.ints
      guard let count = plausibleElementCount(outShape) else { throw fail("invalid shape \(outShape)") }
      guard value.count == 1 else { throw fail("'value' must hold one element, it has \(value.count)") }
      try reserveFold(outShape, bytesPerElement: 16)
      switch value.values {
      case .float(let v): return Constant(shape: outShape, floats: [Float](repeating: v[0], count: count))
      case .int(let v): return Constant(shape: outShape, ints: [Int](repeating: v[0], count: count))
      }
    }
    let present = node.inputs.filter { !$0.isEmpty }
    guard !present.isEmpty, present.allSatisfy(graph.isConstant), let x = constant(0) else { return nil }
    switch op {
    case .registered(let r):
      return try r.definition.fold(&self)
    case .identity, .dropout, .flatten, .reshape, .squeeze, .unsqueeze:
      return x.reshaped(try outputShape())
    case .cast(let toFloat):
      try reserveFold(x.shape, bytesPerElement: 8)
      return toFloat ? Constant(shape: x.shape, floats: x.floats) : Constant(shape: x.shape, ints: x.ints)
    case .transpose:
      let outShape = try outputShape()
      try reserveFold(outShape)
      guard case .transpose(let perm) = op else { return nil }
      let inStrides = strides(of: x.shape)
      let indices = mapIndices(outShape) { idx in zip(perm, idx).reduce(0) { $0 + inStrides[$1.0] * $1.1 } }
      return Constant(shape: outShape, values: x.values.picking(indices))
    case .gather(let axisValue):
      let indices = try requireConstant(1, "indices")
      let a = try axis(axisValue, rank: x.shape.count)
      let n = x.shape[a]
      let idx = try indices.ints.map { i -> Int in
        guard (-n..<n).contains(i) else { throw fail("gather index \(i) is out of range for size \(n)") }
        return i < 0 ? i + n : i
      }
      let outShape = Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...])
      try reserveFold(outShape)
      let inStrides = strides(of: x.shape)
      let q = indices.shape.count
      let picks = mapIndices(outShape) { o in
        var flat = 0
        for d in 0..<a { flat += o[d] * inStrides[d] }
        var qi = 0
        for d in 0..<q { qi = qi * indices.shape[d] + o[a + d] }
        flat += idx[qi] * inStrides[a]
        for d in (a + 1)..<max(a + 1, x.shape.count) { flat += o[d - 1 + q] * inStrides[d] }
        return flat
      }
      return Constant(shape: outShape, values: x.values.picking(picks))
    case .slice:
      let (outShape, starts, steps) = try sliceGeometry(x.shape)
      try reserveFold(outShape)
      let inStrides = strides(of: x.shape)
      let picks = mapIndices(outShape) { o in
        o.indices.reduce(0) { $0 + (starts[$1] + o[$1] * steps[$1]) * inStrides[$1] }
      }
      return Constant(shape: outShape, values: x.values.picking(picks))
    case .concat(let axisValue):
      let parts = node.inputs.map { graph.constants[$0]! }
      let outShape = try outputShape()
      try reserveFold(outShape, bytesPerElement: 8)
      let a = try axis(axisValue, rank: outShape.count)
      let outer = outShape[..<a].reduce(1, *)
      let anyFloat = parts.contains { $0.isFloat }
      let partFloats = anyFloat ? parts.map(\.floats) : [], partInts = anyFloat ? [] : parts.map(\.ints)
      var floats: [Float] = [], ints: [Int] = []
      for o in 0..<outer {
        for (p, part) in parts.enumerated() {
          let block = part.shape[a...].reduce(1, *)
          if anyFloat { floats += partFloats[p][(o * block)..<((o + 1) * block)] }
          else { ints += partInts[p][(o * block)..<((o + 1) * block)] }
        }
      }
      return anyFloat ? Constant(shape: outShape, floats: floats) : Constant(shape: outShape, ints: ints)
    case .elementwise(let binary):
      let y = try requireConstant(1, "operand")
      let outShape = try outputShape()
      try reserveFold(outShape, bytesPerElement: 24)
      let pa = broadcastIndices(from: x.shape, to: outShape), pb = broadcastIndices(from: y.shape, to: outShape)
      if x.isFloat || y.isFloat {
        let u = x.floats, v = y.floats
        let f: (Float, Float) -> Float = {
          switch binary { case .add: return (+); case .sub: return (-); case .mul: return (*); case .div: return (/) }
        }()
        return Constant(shape: outShape, floats: zip(pa, pb).map { f(u[$0.0], v[$0.1]) })
      }
      let u = x.ints, v = y.ints
      return Constant(shape: outShape, ints: try zip(pa, pb).map { (i, j) -> Int in
        switch binary {
        case .add: return u[i] &+ v[j]
        case .sub: return u[i] &- v[j]
        case .mul: return u[i] &* v[j]
        case .div:
          guard v[j] != 0 else { throw fail("integer division by zero in constant folding") }
          return u[i].dividedReportingOverflow(by: v[j]).partialValue
        }
      })
    default:
      return nil
    }
  }

  // MARK: Shapes

  mutating func outputShape() throws -> [Int] {
    switch op {
    case .convTranspose(let t):
      let x = try shape(0), w = try shape(1)
      guard x.count == 4, w.count == 4 else { throw fail("expects a 4-D input and weight, got \(x) and \(w)") }
      guard t.group > 0, w[0] == x[1], x[1] % t.group == 0 else {
        throw fail("weight \(w) with group \(t.group) does not match input channels \(x[1])")
      }
      guard w[2] == t.window.kernelH, w[3] == t.window.kernelW else {
        throw fail("kernel_shape [\(t.window.kernelH), \(t.window.kernelW)] does not match weight \(w)")
      }
      let outChannels = w[1] * t.group
      let win = t.window
      let height = win.strideH * (x[2] - 1) + t.outputPadding[0] + win.dilationH * (win.kernelH - 1) + 1 - win.padTop - win.padBottom
      let width = win.strideW * (x[3] - 1) + t.outputPadding[1] + win.dilationW * (win.kernelW - 1) + 1 - win.padLeft - win.padRight
      guard height > 0, width > 0 else { throw fail("computes the empty output size \(height)×\(width)") }
      // The adjoint conv must map the output back onto the input's size (output_padding < stride).
      guard win.outputSize(height: height, width: width) == (x[2], x[3]) else {
        throw fail("output_padding \(t.outputPadding) must be smaller than the strides [\(win.strideH), \(win.strideW)]")
      }
      if node.inputs.count > 2, !node.inputs[2].isEmpty {
        guard try shape(2).elementCount == outChannels else { throw fail("bias of shape \(try shape(2)) does not match \(outChannels) output channels") }
      }
      guard constant(1) != nil else { throw fail("the weight must be a constant") }
      return [x[0], outChannels, height, width]
    case .conv(var conv):
      let x = try shape(0), w = try shape(1)
      guard x.count == 4 else { throw fail("expects a 4-D input [N, C, H, W], got \(x)") }
      guard w.count == 4 else { throw fail("expects a 4-D weight, got \(w)") }
      guard conv.group > 0, x[1] % conv.group == 0, w[0] % conv.group == 0, w[1] == x[1] / conv.group else {
        throw fail("weight \(w) with group \(conv.group) does not match input channels \(x[1])")
      }
      guard w[2] == conv.window.kernelH, w[3] == conv.window.kernelW else {
        throw fail("kernel_shape [\(conv.window.kernelH), \(conv.window.kernelW)] does not match weight \(w)")
      }
      if node.inputs.count > 2, !node.inputs[2].isEmpty {
        let b = try shape(2)
        guard b.elementCount == w[0] else { throw fail("bias of shape \(b) does not match \(w[0]) output channels") }
      }
      conv.window = try resolvePadding(conv.window, conv.autoPad, x)
      conv.autoPad = .explicit
      op = .conv(conv)
      let (h, wd) = conv.window.outputSize(height: x[2], width: x[3])
      guard h > 0, wd > 0 else { throw fail("the \(conv.window.kernelH)x\(conv.window.kernelW) kernel does not fit the \(x[2])x\(x[3]) input") }
      return [x[0], w[0], h, wd]
    case .maxPool(var pool), .avgPool(var pool):
      let x = try shape(0)
      guard x.count == 4 else { throw fail("expects a 4-D input [N, C, H, W], got \(x)") }
      pool.window = try resolvePadding(pool.window, pool.autoPad, x)
      pool.autoPad = .explicit
      if case .maxPool = op { op = .maxPool(pool) } else { op = .avgPool(pool) }
      let (h, w) = pool.window.outputSize(height: x[2], width: x[3])
      guard h > 0, w > 0 else { throw fail("the \(pool.window.kernelH)x\(pool.window.kernelW) window does not fit the \(x[2])x\(x[3]) input") }
      return [x[0], x[1], h, w]
    case .globalAvgPool:
      let x = try shape(0)
      guard x.count >= 3 else { throw fail("expects an input of rank >= 3, got \(x)") }
      return [x[0], x[1]] + [Int](repeating: 1, count: x.count - 2)
    case .dense:
      let x = try shape(0), w = try shape(1)
      guard x.count == 2, w.count == 2, x[1] == w[1] else { throw fail("input \(x) does not match dense weight \(w) ([out, in])") }
      return [x[0], w[0]]
    case .affine, .batchNorm:
      let x = try shape(0)
      guard x.count >= 2 else { throw fail("expects an input of rank >= 2, got \(x)") }
      for i in 1..<node.inputs.count {
        guard try shape(i).elementCount == x[1] else {
          throw fail("parameter '\(node.inputs[i])' of shape \(try shape(i)) does not match \(x[1]) channels")
        }
      }
      return x
    case .activation, .identity, .dropout, .cast:
      return try shape(0)
    case .softmax(let a):
      let x = try shape(0)
      _ = try axis(a, rank: x.count)
      return x
    case .registered(let r):
      let resolved = try r.definition.resolved(self)
      op = .registered(RegisteredOp(resolved))
      return try resolved.outputShape(self)
    case .concat(let axisValue):
      let shapes = try node.inputs.indices.map { try shape($0) }
      guard let rank = shapes.first?.count else { throw fail("has no inputs") }
      let a = try axis(axisValue, rank: rank)
      var out = shapes[0]
      for s in shapes.dropFirst() {
        guard s.count == rank, (0..<rank).allSatisfy({ $0 == a || s[$0] == out[$0] }) else {
          throw fail("cannot concatenate shapes \(shapes) along axis \(axisValue)")
        }
        out[a] += s[a]
      }
      return out
    case .elementwise:
      let a = try shape(0), b = try shape(1)
      guard let out = Kernels.broadcastShape(a, b) else { throw fail("shapes \(a) and \(b) do not broadcast") }
      return out
    case .pad:
      let x = try shape(0)
      let pads = try requireConstant(1, "pads").ints
      guard pads.count == 2 * x.count else { throw fail("pads \(pads) do not match rank \(x.count)") }
      guard pads.allSatisfy({ $0.magnitude <= UInt(maxTensorElements) }) else { throw fail("implausible pads \(pads)") }
      if node.inputs.count > 2, !node.inputs[2].isEmpty { _ = try requireConstant(2, "constant_value") }
      let out = x.indices.map { x[$0] + pads[$0] + pads[$0 + x.count] }
      guard out.allSatisfy({ $0 >= 0 }) else { throw fail("pads \(pads) crop more than the input \(x)") }
      return out
    case .transpose(var perm):
      let x = try shape(0)
      if perm.isEmpty { perm = Array(x.indices.reversed()); op = .transpose(perm: perm) }
      guard perm.sorted() == Array(x.indices) else { throw fail("perm \(perm) is not a permutation of rank \(x.count)") }
      return perm.map { x[$0] }
    case .flatten(let axisValue):
      let x = try shape(0)
      let a = axisValue < 0 ? axisValue + x.count : axisValue
      guard (0...x.count).contains(a) else { throw fail("axis \(axisValue) is out of range for rank \(x.count)") }
      return [x[..<a].reduce(1, *), x[a...].reduce(1, *)]
    case .reshape(let allowZero):
      let x = try shape(0)
      let target = try requireConstant(1, "shape").ints
      var out = target.enumerated().map { i, d in d == 0 && !allowZero && i < x.count ? x[i] : d }
      let unknown = out.indices.filter { out[$0] == -1 }
      guard unknown.count <= 1, out.allSatisfy({ $0 >= -1 }) else { throw fail("invalid reshape target \(target)") }
      if let u = unknown.first {
        let known = plausibleElementCount(out.enumerated().filter { $0.offset != u }.map(\.element))
        guard let known, known > 0, x.elementCount % known == 0 else { throw fail("cannot reshape \(x) into \(target)") }
        out[u] = x.elementCount / known
      }
      guard plausibleElementCount(out) == x.elementCount else { throw fail("cannot reshape \(x) into \(target)") }
      return out
    case .squeeze(let attributeAxes):
      let x = try shape(0)
      if attributeAxes == nil, node.inputs.count > 1, !node.inputs[1].isEmpty, constant(1) == nil {
        throw fail("its axes input must be a constant or computable from shapes")
      }
      let axes = attributeAxes ?? constant(1)?.ints ?? x.indices.filter { x[$0] == 1 }
      let normalized = try Set(axes.map { try axis($0, rank: x.count) })
      guard normalized.allSatisfy({ x[$0] == 1 }) else { throw fail("cannot squeeze axes \(axes) of \(x)") }
      return x.indices.filter { !normalized.contains($0) }.map { x[$0] }
    case .unsqueeze(let attributeAxes):
      let x = try shape(0)
      let axes = try attributeAxes ?? requireConstant(1, "axes").ints
      let rank = x.count + axes.count
      let normalized = try Set(axes.map { try axis($0, rank: rank) })
      guard normalized.count == axes.count else { throw fail("repeated axes \(axes)") }
      var rest = x.makeIterator()
      return (0..<rank).map { normalized.contains($0) ? 1 : rest.next()! }
    case .gemm(let p):
      let a = try shape(0), b = try shape(1)
      guard a.count == 2, b.count == 2 else { throw fail("expects 2-D operands, got \(a) and \(b)") }
      let (m, k) = p.transA ? (a[1], a[0]) : (a[0], a[1])
      let (k2, n) = p.transB ? (b[1], b[0]) : (b[0], b[1])
      guard k == k2 else { throw fail("inner dimensions of \(a) and \(b) differ (transA=\(p.transA), transB=\(p.transB))") }
      if node.inputs.count > 2, !node.inputs[2].isEmpty {
        guard Kernels.broadcastShape(try shape(2), [m, n]) == [m, n] else { throw fail("C of shape \(try shape(2)) does not broadcast to [\(m), \(n)]") }
      }
      return [m, n]
    case .matMul:
      let a = try shape(0), b = try shape(1)
      guard a.count >= 2, b.count == 2, a[a.count - 1] == b[0] else {
        throw fail("MatMul of \(a) by \(b) is not supported (needs [..., K] x [K, M])")
      }
      return Array(a.dropLast()) + [b[1]]
    case .gather(let axisValue):
      // On run-time data with constant indices (LowerGatherAsReshape may turn it into a reshape).
      let x = try shape(0)
      let indices = try requireConstant(1, "indices")
      let a = try axis(axisValue, rank: x.count)
      return Array(x[..<a]) + indices.shape + Array(x[(a + 1)...])
    case .slice:
      // On run-time data (a channel split): a crop, steps of 1 only.
      return try sliceCrop(try shape(0)).shape
    case .shape:
      throw fail("needs a constant input; computing on run-time data is not supported")
    case .constantOfShape:
      throw fail("its shape input must be a constant or computable from shapes")
    case .globalMaxPool:
      let x = try shape(0)
      guard x.count == 4 else { throw fail("expects an NCHW input of rank 4, got \(x)") }
      op = .maxPool(Pool2D(window: Window2D(kernelH: x[2], kernelW: x[3]), autoPad: .explicit, countIncludePad: false))
      return [x[0], x[1], 1, 1]
    case .reduceMean(_, let keepDims, _):
      let x = try shape(0)
      let axes = try reducedAxes(rank: x.count)
      return keepDims ? x.indices.map { axes.contains($0) ? 1 : x[$0] } : x.indices.filter { !axes.contains($0) }.map { x[$0] }
    }
  }

  /// The axes a ReduceMean (or a registered reduction) reduces, normalized; empty for the no-op.
  func reducedAxes(rank: Int) throws -> Set<Int> {
    switch op {
    case .reduceMean(let a, _, let n): return try reducedAxes(rank: rank, attributeAxes: a, noopWithEmptyAxes: n)
    case .registered(let r):
      if let reduce = r.definition as? ReduceExtremum { return try reduce.reducedAxes(self, rank: rank) }
      return []
    default: return []
    }
  }

  /// The ONNX reduction axes (opset 18: the `axes` input when `attributeAxes` is nil), normalized:
  /// none given is every axis, or none with `noopWithEmptyAxes`.
  func reducedAxes(rank: Int, attributeAxes: [Int]?, noopWithEmptyAxes noop: Bool) throws -> Set<Int> {
    if attributeAxes == nil, node.inputs.count > 1, !node.inputs[1].isEmpty, constant(1) == nil {
      throw fail("its axes input must be a constant or computable from shapes")
    }
    let axes = attributeAxes ?? constant(1)?.ints ?? []
    if axes.isEmpty { return noop ? [] : Set(0..<rank) }
    return Set(try axes.map { try axis($0, rank: rank) })
  }

  /// Explicit pads for `auto_pad` (ONNX: SAME_* keeps ceil(in / stride), extra padding at the
  /// end for SAME_UPPER, at the beginning for SAME_LOWER).
  func resolvePadding(_ window: Window2D, _ autoPad: AutoPad, _ x: [Int]) throws -> Window2D {
    var w = window
    switch autoPad {
    case .explicit: return w
    case .valid:
      w.padTop = 0; w.padLeft = 0; w.padBottom = 0; w.padRight = 0
    case .sameUpper, .sameLower:
      func split(_ input: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
        let out = (input + s - 1) / s
        let total = max(0, (out - 1) * s + (k - 1) * d + 1 - input)
        let small = total / 2
        return autoPad == .sameUpper ? (small, total - small) : (total - small, small)
      }
      (w.padTop, w.padBottom) = split(x[2], w.kernelH, w.strideH, w.dilationH)
      (w.padLeft, w.padRight) = split(x[3], w.kernelW, w.strideW, w.dilationW)
    }
    return w
  }

  /// A Slice of run-time data as the crop it is: the output shape and the (non-positive)
  /// `Kernels.pad` amounts that cut it out of `x`, `[−start_0, ..., −(dim_0 − end_0), ...]`
  /// in ONNX Pad order. Refuses steps other than 1 (nothing exports strided slices of
  /// activations in the models clrp serves), naming them.
  func sliceCrop(_ x: [Int]) throws -> (shape: [Int], pads: [Int]) {
    let (outShape, starts, steps) = try sliceGeometry(x)
    guard steps.allSatisfy({ $0 == 1 }) else {
      throw fail("slicing run-time data with steps \(steps) is not supported (only step 1 on activations)")
    }
    let rank = x.count
    var pads = [Int](repeating: 0, count: 2 * rank)
    for a in 0..<rank {
      pads[a] = -starts[a]
      pads[rank + a] = -(x[a] - starts[a] - outShape[a])
    }
    return (outShape, pads)
  }

  /// ONNX Slice (opset 10+): per-axis clamped start, step and output length. A piece of an
  /// imported Split first checks what the Split requires of its axis length
  /// (`SplitRequirement`): clamping would otherwise hide a Split that does not fit its input.
  func sliceGeometry(_ x: [Int]) throws -> (shape: [Int], starts: [Int], steps: [Int]) {
    try graph.splitRequirements[node.name]?.check(inputShape: x, file: graph.source)
    let starts = try requireConstant(1, "starts").ints, ends = try requireConstant(2, "ends").ints
    let axes = node.inputs.count > 3 && !node.inputs[3].isEmpty ? try requireConstant(3, "axes").ints : Array(0..<starts.count)
    let steps = node.inputs.count > 4 && !node.inputs[4].isEmpty ? try requireConstant(4, "steps").ints : [Int](repeating: 1, count: starts.count)
    guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
      throw fail("starts, ends, axes and steps differ in length")
    }
    var outShape = x, outStarts = [Int](repeating: 0, count: x.count), outSteps = [Int](repeating: 1, count: x.count)
    var seen = Set<Int>()
    for (i, axisValue) in axes.enumerated() {
      let a = try axis(axisValue, rank: x.count)
      guard seen.insert(a).inserted else { throw fail("axes \(axes) repeat an axis") }
      let dim = x[a], step = steps[i]
      guard step != 0 else { throw fail("slice step 0") }
      func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
      var start = starts[i] < 0 ? starts[i] &+ dim : starts[i]
      var end = ends[i] < 0 ? ends[i] &+ dim : ends[i]
      if step > 0 { start = clamp(start, 0, dim); end = clamp(end, 0, dim) }
      else { start = clamp(start, 0, dim - 1); end = clamp(end, -1, dim - 1) }
      // (Written so that steps up to ±INT64_MAX cannot overflow.)
      let distance = step > 0 ? end - start : start - end
      let length = distance > 0 ? (distance - 1) / Int(clamping: step.magnitude) + 1 : 0
      outShape[a] = length
      outStarts[a] = start
      outSteps[a] = step
    }
    return (outShape, outStarts, outSteps)
  }

  private func clampedBound(_ v: Int, _ rank: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
}

/// For each element of `shape` (row-major), the flat index of the element of a tensor of
/// shape `from` that broadcasting reads.
func broadcastIndices(from: [Int], to shape: [Int]) -> [Int] {
  let padded = [Int](repeating: 1, count: shape.count - from.count) + from
  let s = strides(of: padded)
  return mapIndices(shape) { idx in idx.indices.reduce(0) { $0 + (padded[$1] == 1 ? 0 : idx[$1] * s[$1]) } }
}
