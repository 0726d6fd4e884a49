import Foundation
@testable import Relevance

/// Deterministic pseudo-random numbers for test data (SplitMix64).
struct SeededRandom {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in [0, 1).
  mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

  mutating func float(_ low: Float = -1, _ high: Float = 1) -> Float { low + (high - low) * Float(unit()) }

  mutating func floats(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
    (0..<count).map { _ in float(low, high) }
  }

  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
  }

  mutating func tensor(_ shape: [Int], _ low: Float = -1, _ high: Float = 1) -> Tensor {
    Tensor(shape: shape, data: floats(shape.reduce(1, *), low, high))
  }
}

/// A naive evaluator of IR graphs, canonical or not, for checking passes and the runtime.
///
/// Written from the ONNX operator specification with plain nested loops in double precision.
/// It uses nothing of `Kernels`, `ForwardPlan`, `Window2D.outputSize` or the shape rules of
/// `InferShapes`: it resolves `auto_pad` and computes every output shape itself (reshape targets
/// from the run-time value of the shape operand), and where `graph.shapes` knows a value's shape
/// it checks that the two agree. Integer values (shapes, indices) are kept as `Int`, so it also
/// evaluates the Shape → Gather → ... → Reshape chains that `InferShapes` folds away.
struct ReferenceInterpreter {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// A tensor of doubles or of integers.
  struct Value {
    var shape: [Int]
    var reals: [Double] = []
    var ints: [Int] = []
    var isInt = false

    init(shape: [Int], reals: [Double]) {
      precondition(shape.reduce(1, *) == reals.count)
      self.shape = shape
      self.reals = reals
    }

    init(shape: [Int], ints: [Int]) {
      precondition(shape.reduce(1, *) == ints.count)
      self.shape = shape
      self.ints = ints
      self.isInt = true
    }

    init(_ constant: Constant) {
      switch constant.values {
      case .float(let f): self.init(shape: constant.shape, reals: f.map(Double.init))
      case .int(let i): self.init(shape: constant.shape, ints: i)
      }
    }

    var count: Int { shape.reduce(1, *) }
    var asReals: [Double] { isInt ? ints.map(Double.init) : reals }
    var asInts: [Int] { isInt ? ints : reals.map { Int($0) } }
    var floats: [Float] { asReals.map(Float.init) }

    /// The elements at `flat` (row-major indices into this value) as a value of `shape`.
    func picking(_ flat: [Int], shape: [Int]) -> Value {
      isInt ? Value(shape: shape, ints: flat.map { ints[$0] }) : Value(shape: shape, reals: flat.map { reals[$0] })
    }

    func reshaped(_ newShape: [Int]) -> Value {
      var copy = self
      copy.shape = newShape
      return copy
    }
  }

  let graph: Graph

  /// Evaluates the graph on `input`; returns every value computed (input, node outputs) and
  /// the graph outputs, constants included.
  func run(_ input: Tensor) throws -> [ValueName: Value] {
    var values: [ValueName: Value] = [graph.input: Value(shape: input.shape, reals: input.data.map(Double.init))]
    func operand(_ node: Node, _ index: Int) throws -> Value {
      guard index < node.inputs.count, !node.inputs[index].isEmpty else {
        throw Failure(description: "\(node.name): missing input \(index)")
      }
      let name = node.inputs[index]
      if let c = graph.constants[name] { return Value(c) }
      guard let v = values[name] else { throw Failure(description: "\(node.name): input '\(name)' not computed yet") }
      return v
    }
    func optional(_ node: Node, _ index: Int) throws -> Value? {
      index < node.inputs.count && !node.inputs[index].isEmpty ? try operand(node, index) : nil
    }
    for node in graph.nodes {
      let result = try evaluate(node, operand: { try operand(node, $0) }, optional: { try optional(node, $0) })
      if let known = graph.shapes[node.output], known != result.shape {
        throw Failure(description: "\(node.name) (\(node.op.name)): computed shape \(result.shape), graph.shapes says \(known)")
      }
      for output in node.outputs { values[output] = result }
    }
    for output in graph.outputs where values[output] == nil {
      guard let c = graph.constants[output] else { throw Failure(description: "output '\(output)' is not computed") }
      values[output] = Value(c)
    }
    return values
  }

  /// The graph outputs as float tensors.
  func outputs(_ input: Tensor) throws -> [Tensor] {
    let values = try run(input)
    return graph.outputs.map { Tensor(shape: values[$0]!.shape, data: values[$0]!.floats) }
  }

  // MARK: - Operators

  private func evaluate(_ node: Node, operand: (Int) throws -> Value, optional: (Int) throws -> Value?) throws -> Value {
    func fail(_ message: String) -> Failure { Failure(description: "\(node.name) (\(node.op.name)): \(message)") }
    switch node.op {
    case .conv(let conv):
      return try convolution(operand(0), operand(1), optional(2), conv, fail)
    case .convTranspose(let t):
      // y[n, o, i·s − pb + k·d, ...] += x[n, c, i, ...] · W[c, o − g·(C_out/g), k, ...] for c in group g.
      let x = try operand(0), w = try operand(1), b = try optional(2)?.asReals
      let xv = x.asReals, wv = w.asReals, win = t.window
      let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
      let (cog, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
      let cout = cog * t.group, cig = cin / t.group
      let oh = win.strideH * (h - 1) + t.outputPadding[0] + win.dilationH * (kh - 1) + 1 - win.padTop - win.padBottom
      let ow = win.strideW * (wd - 1) + t.outputPadding[1] + win.dilationW * (kw - 1) + 1 - win.padLeft - win.padRight
      var out = [Double](repeating: 0, count: n * cout * oh * ow)
      for img in 0..<n {
        for o in 0..<cout { for p in 0..<(oh * ow) { out[(img * cout + o) * oh * ow + p] = b?[o] ?? 0 } }
        for c in 0..<cin {
          let g = c / cig
          for i in 0..<h {
            for j in 0..<wd {
              let v = xv[((img * cin + c) * h + i) * wd + j]
              for oc in 0..<cog {
                let o = g * cog + oc
                for a in 0..<kh {
                  let y = i * win.strideH - win.padTop + a * win.dilationH
                  guard (0..<oh).contains(y) else { continue }
                  for bb in 0..<kw {
                    let z = j * win.strideW - win.padLeft + bb * win.dilationW
                    guard (0..<ow).contains(z) else { continue }
                    out[((img * cout + o) * oh + y) * ow + z] += v * wv[((c * cog + oc) * kh + a) * kw + bb]
                  }
                }
              }
            }
          }
        }
      }
      return Value(shape: [n, cout, oh, ow], reals: out)
    case .dense:
      let x = try operand(0), w = try operand(1), b = try optional(2)
      guard x.shape.count == 2, w.shape.count == 2, x.shape[1] == w.shape[1] else { throw fail("shapes \(x.shape) \(w.shape)") }
      let (n, k, m) = (x.shape[0], x.shape[1], w.shape[0])
      let xv = x.asReals, wv = w.asReals, bv = b?.asReals
      var out = [Double](repeating: 0, count: n * m)
      for i in 0..<n {
        for o in 0..<m {
          var s = bv?[o] ?? 0
          for j in 0..<k { s += xv[i * k + j] * wv[o * k + j] }
          out[i * m + o] = s
        }
      }
      return Value(shape: [n, m], reals: out)
    case .affine:
      let x = try operand(0), scale = try operand(1).asReals, shift = try operand(2).asReals
      return perChannel(x) { c, v in v * scale[c] + shift[c] }
    case .batchNorm(let epsilon):
      let x = try operand(0), gamma = try operand(1).asReals, beta = try operand(2).asReals
      let mean = try operand(3).asReals, variance = try operand(4).asReals
      return perChannel(x) { c, v in (v - mean[c]) / (variance[c] + Double(epsilon)).squareRoot() * gamma[c] + beta[c] }
    case .gemm(let p):
      return try gemm(operand(0), operand(1), optional(2), p, fail)
    case .matMul:
      let a = try operand(0), b = try operand(1)
      guard a.shape.count >= 2, b.shape.count == 2, a.shape.last! == b.shape[0] else { throw fail("shapes \(a.shape) \(b.shape)") }
      let k = b.shape[0], m = b.shape[1], rows = a.count / k
      let av = a.asReals, bv = b.asReals
      var out = [Double](repeating: 0, count: rows * m)
      for r in 0..<rows {
        for o in 0..<m {
          var s = 0.0
          for j in 0..<k { s += av[r * k + j] * bv[j * m + o] }
          out[r * m + o] = s
        }
      }
      return Value(shape: Array(a.shape.dropLast()) + [m], reals: out)
    case .elementwise(let op):
      return try broadcast(operand(0), operand(1), op, fail)
    case .activation(let a):
      guard let f = referenceActivation(a) else { throw fail("no reference for activation \(a)") }
      return map(try operand(0), f)
    case .maxPool(let pool), .avgPool(let pool):
      return try pooling(operand(0), pool, isMax: { if case .maxPool = node.op { return true } else { return false } }(), fail)
    case .globalAvgPool:
      let x = try operand(0)
      guard x.shape.count >= 3 else { throw fail("rank \(x.shape.count)") }
      let planes = x.shape[0] * x.shape[1], size = x.count / planes, xv = x.asReals
      let out = (0..<planes).map { p in (0..<size).reduce(0.0) { $0 + xv[p * size + $1] } / Double(size) }
      return Value(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.shape.count - 2), reals: out)
    case .reduceMean(let attributeAxes, let keepDims, let noop):
      let x = try operand(0), given = try optional(1)?.asInts
      let (shape, sums, n) = reduce(x, axes: attributeAxes ?? given, noopWithEmptyAxes: noop,
                                    keepDims: keepDims, initial: 0, +)
      return Value(shape: shape, reals: sums.map { $0 / Double(n) })
    case .globalMaxPool:
      let x = try operand(0), xv = x.asReals
      let planes = x.shape[0] * x.shape[1], size = x.count / planes
      let out = (0..<planes).map { p in (0..<size).map { xv[p * size + $0] }.max()! }
      return Value(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.shape.count - 2), reals: out)
    case .registered(let r):
      return try evaluate(r, node: node, operand: operand, optional: optional, fail)
    case .concat(let axisValue):
      let parts = try node.inputs.indices.map { try operand($0) }
      let rank = parts[0].shape.count
      let a = axisValue < 0 ? axisValue + rank : axisValue
      guard (0..<rank).contains(a) else { throw fail("axis \(axisValue)") }
      var shape = parts[0].shape
      shape[a] = parts.reduce(0) { $0 + $1.shape[a] }
      let outer = shape[..<a].reduce(1, *)
      let anyReal = parts.contains { !$0.isInt }
      var reals: [Double] = [], ints: [Int] = []
      for o in 0..<outer {
        for part in parts {
          guard part.shape.count == rank, (0..<rank).allSatisfy({ $0 == a || part.shape[$0] == shape[$0] }) else {
            throw fail("cannot concatenate \(parts.map(\.shape))")
          }
          let block = part.shape[a...].reduce(1, *)
          if anyReal { reals += part.asReals[(o * block)..<((o + 1) * block)] } else { ints += part.ints[(o * block)..<((o + 1) * block)] }
        }
      }
      return anyReal ? Value(shape: shape, reals: reals) : Value(shape: shape, ints: ints)
    case .pad:
      let x = try operand(0), pads = try operand(1).asInts
      let value = try optional(2)?.asReals.first ?? 0
      let rank = x.shape.count
      guard pads.count == 2 * rank else { throw fail("pads \(pads)") }
      let shape = (0..<rank).map { x.shape[$0] + pads[$0] + pads[$0 + rank] }
      let xs = rowMajorStrides(x.shape), xv = x.asReals
      let out = allIndices(shape).map { idx -> Double in
        var flat = 0
        for d in 0..<rank {
          let i = idx[d] - pads[d]
          guard (0..<x.shape[d]).contains(i) else { return value }
          flat += i * xs[d]
        }
        return xv[flat]
      }
      return Value(shape: shape, reals: out)
    case .softmax(let axisValue):
      let x = try operand(0), xv = x.asReals
      let a = axisValue < 0 ? axisValue + x.shape.count : axisValue
      let n = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *), outer = x.shape[..<a].reduce(1, *)
      var out = xv
      for o in 0..<outer {
        for i in 0..<inner {
          let at = (0..<n).map { (o * n + $0) * inner + i }
          let top = at.map { xv[$0] }.max()!
          let e = at.map { exp(xv[$0] - top) }
          let total = e.reduce(0, +)
          for (k, index) in at.enumerated() { out[index] = e[k] / total }
        }
      }
      return Value(shape: x.shape, reals: out)
    case .transpose(let permAttribute):
      let x = try operand(0)
      let perm = permAttribute.isEmpty ? Array(x.shape.indices.reversed()) : permAttribute
      guard perm.sorted() == Array(x.shape.indices) else { throw fail("perm \(perm)") }
      let shape = perm.map { x.shape[$0] }, xs = rowMajorStrides(x.shape)
      let flat = allIndices(shape).map { idx in perm.indices.reduce(0) { $0 + idx[$1] * xs[perm[$1]] } }
      return x.picking(flat, shape: shape)
    case .flatten(let axisValue):
      let x = try operand(0)
      let a = axisValue < 0 ? axisValue + x.shape.count : axisValue
      return x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
    case .reshape(let allowZero):
      let x = try operand(0), target = try operand(1).asInts
      var shape = target.enumerated().map { i, d in d == 0 && !allowZero ? x.shape[i] : d }
      if let u = shape.firstIndex(of: -1) {
        shape[u] = 1
        shape[u] = x.count / shape.reduce(1, *)
      }
      guard shape.reduce(1, *) == x.count else { throw fail("cannot reshape \(x.shape) into \(target)") }
      return x.reshaped(shape)
    case .squeeze(let attributeAxes):
      let x = try operand(0)
      let axes = try attributeAxes ?? optional(1)?.asInts ?? x.shape.indices.filter { x.shape[$0] == 1 }
      let drop = Set(axes.map { $0 < 0 ? $0 + x.shape.count : $0 })
      guard drop.allSatisfy({ x.shape[$0] == 1 }) else { throw fail("cannot squeeze \(axes) of \(x.shape)") }
      return x.reshaped(x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] })
    case .unsqueeze(let attributeAxes):
      let x = try operand(0)
      let axes = try attributeAxes ?? operand(1).asInts
      let rank = x.shape.count + axes.count
      let insert = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
      var rest = x.shape.makeIterator()
      return x.reshaped((0..<rank).map { insert.contains($0) ? 1 : rest.next()! })
    case .identity, .dropout:
      return try operand(0)
    case .shape(let start, let end):
      let x = try operand(0)
      let rank = x.shape.count
      func bound(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
      let lo = bound(start), hi = bound(end ?? rank)
      let dims = lo < hi ? Array(x.shape[lo..<hi]) : []
      return Value(shape: [dims.count], ints: dims)
    case .gather(let axisValue):
      let x = try operand(0), indices = try operand(1)
      let a = axisValue < 0 ? axisValue + x.shape.count : axisValue
      let n = x.shape[a]
      let shape = Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...])
      let xs = rowMajorStrides(x.shape), q = indices.shape.count, iv = indices.asInts
      let iStrides = rowMajorStrides(indices.shape)
      let flat = try allIndices(shape).map { o -> Int in
        var qi = 0
        for d in 0..<q { qi += o[a + d] * iStrides[d] }
        var i = iv[qi]
        if i < 0 { i += n }
        guard (0..<n).contains(i) else { throw fail("index \(iv[qi]) out of range") }
        var f = i * xs[a]
        for d in 0..<a { f += o[d] * xs[d] }
        for d in (a + 1)..<max(a + 1, x.shape.count) { f += o[d - 1 + q] * xs[d] }
        return f
      }
      return x.picking(flat, shape: shape)
    case .slice:
      let x = try operand(0), starts = try operand(1).asInts, ends = try operand(2).asInts
      let axes = try optional(3)?.asInts ?? Array(starts.indices)
      let steps = try optional(4)?.asInts ?? [Int](repeating: 1, count: starts.count)
      let rank = x.shape.count
      // Per axis, the list of source indices taken (ONNX Slice-10+ clamping rules).
      var taken = x.shape.map { Array(0..<$0) }
      for (i, axisValue) in axes.enumerated() {
        let a = axisValue < 0 ? axisValue + rank : axisValue
        let dim = x.shape[a], step = steps[i]
        guard step != 0 else { throw fail("step 0") }
        var start = starts[i], end = ends[i]
        if start < 0 { start += dim }
        if end < 0 { end += dim }
        if step > 0 {
          start = min(max(start, 0), dim); end = min(max(end, 0), dim)
        } else {
          start = min(max(start, 0), dim - 1); end = min(max(end, -1), dim - 1)
        }
        var picks: [Int] = []
        var at = start
        while step > 0 ? at < end : at > end {
          picks.append(at)
          let (next, overflow) = at.addingReportingOverflow(step)
          if overflow { break }
          at = next
        }
        taken[a] = picks
      }
      let shape = taken.map(\.count), xs = rowMajorStrides(x.shape)
      let flat = allIndices(shape).map { idx in idx.indices.reduce(0) { $0 + taken[$1][idx[$1]] * xs[$1] } }
      return x.picking(flat, shape: shape)
    case .cast(let toFloat):
      let x = try operand(0)
      return toFloat ? Value(shape: x.shape, reals: x.asReals) : Value(shape: x.shape, ints: x.asInts)
    case .constantOfShape(let fill):
      let shape = try operand(0).asInts
      let count = shape.reduce(1, *)
      let v = Value(fill)
      return v.isInt ? Value(shape: shape, ints: [Int](repeating: v.ints[0], count: count))
        : Value(shape: shape, reals: [Double](repeating: v.reals[0], count: count))
    }
  }

  private func map(_ x: Value, _ f: (Double) -> Double) -> Value { Value(shape: x.shape, reals: x.asReals.map(f)) }

  /// The registered ops (`OperatorRegistry.all`), each from its ONNX formula.
  private func evaluate(_ r: RegisteredOp, node: Node, operand: (Int) throws -> Value, optional: (Int) throws -> Value?,
                        _ fail: (String) -> Failure) throws -> Value {
    switch r.definition {
    case let lrn as LocalResponseNormalization:
      let p = lrn.parameters
    let x = try operand(0), xv = x.asReals
    let c = x.shape[1], inner = x.count / (x.shape[0] * c)
    let before = (p.size - 1) / 2, after = p.size - 1 - before  // floor and ceil of (size - 1) / 2
    var out = xv
    for n in 0..<x.shape[0] {
      for ch in 0..<c {
        for i in 0..<inner {
          var sum = 0.0
          for other in max(0, ch - before)...min(c - 1, ch + after) {
            let v = xv[(n * c + other) * inner + i]
            sum += v * v
          }
          let at = (n * c + ch) * inner + i
          out[at] = xv[at] / pow(Double(p.bias) + Double(p.alpha) / Double(p.size) * sum, Double(p.beta))
        }
      }
    }
    return Value(shape: x.shape, reals: out)
    case let layerNorm as LayerNormalization:
      let (a, epsilon) = (layerNorm.axis, layerNorm.epsilon)
    let x = try operand(0), xv = x.asReals
    let scale = try operand(1).asReals, bias = try optional(2)?.asReals
    let first = a < 0 ? a + x.shape.count : a
    let inner = x.shape[first...].reduce(1, *)
    var out = xv
    for o in 0..<(x.count / inner) {
      let slice = xv[(o * inner)..<((o + 1) * inner)]
      let mean = slice.reduce(0, +) / Double(inner)
      let variance = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(inner)
      for i in 0..<inner {
        out[o * inner + i] = (xv[o * inner + i] - mean) / (variance + Double(epsilon)).squareRoot()
          * (scale.count == 1 ? scale[0] : scale[i]) + (bias.map { $0.count == 1 ? $0[0] : $0[i] } ?? 0)
      }
    }
    return Value(shape: x.shape, reals: out)
    case is PReluChannels:
      let x = try operand(0), slopes = try operand(1).asReals
      return perChannel(x) { c, v in v > 0 ? v : slopes[c] * v }
    case let extremum as ElementwiseExtremum:
      let isMax = extremum.kind == .max
      var result = try operand(0)
      for i in 1..<node.inputs.count {
        result = try broadcast(result, try operand(i), fail) { u, v in
          u.isNaN || v.isNaN ? .nan : (isMax ? Swift.max(u, v) : Swift.min(u, v))
        }
      }
      return result.isInt ? result : Value(shape: result.shape, reals: result.asReals)
    case let reduction as ReduceExtremum:
      let x = try operand(0), given = try optional(1)?.asInts
      let isMax = reduction.kind == .max
      let (shape, values, _) = reduce(x, axes: reduction.axes ?? given, noopWithEmptyAxes: reduction.noopWithEmptyAxes,
                                      keepDims: reduction.keepDims, initial: isMax ? -.infinity : .infinity, isMax ? max : min)
      return Value(shape: shape, reals: values)
    default:
      throw fail("no reference for \(r.name) (Resize: tested against onnxruntime in OpFixtureTests)")
    }
  }

  /// Numpy broadcasting of shapes a and b: the result shape and, per output element, the
  /// indices of its a and b elements.
  private func broadcastPairs(_ a: [Int], _ b: [Int], _ fail: (String) -> Failure) throws -> (shape: [Int], pairs: [(Int, Int)]) {
    let rank = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: rank - a.count) + a
    let pb = [Int](repeating: 1, count: rank - b.count) + b
    var shape: [Int] = []
    for (x, y) in zip(pa, pb) {
      guard x == y || x == 1 || y == 1 else { throw fail("shapes \(a) and \(b) do not broadcast") }
      shape.append(x == 1 ? y : x)
    }
    let sa = rowMajorStrides(pa), sb = rowMajorStrides(pb)
    return (shape, allIndices(shape).map { idx -> (Int, Int) in
      var i = 0, j = 0
      for d in 0..<rank {
        if pa[d] != 1 { i += idx[d] * sa[d] }
        if pb[d] != 1 { j += idx[d] * sb[d] }
      }
      return (i, j)
    })
  }

  /// Numpy broadcasting of a and b combined elementwise as reals.
  private func broadcast(_ a: Value, _ b: Value, _ fail: (String) -> Failure, _ combine: (Double, Double) -> Double) throws -> Value {
    let (shape, pairs) = try broadcastPairs(a.shape, b.shape, fail)
    let av = a.asReals, bv = b.asReals
    return Value(shape: shape, reals: pairs.map { i, j in combine(av[i], bv[j]) })
  }

  /// `f(channel, value)` for every element, channel = index along axis 1.
  private func perChannel(_ x: Value, _ f: (Int, Double) -> Double) -> Value {
    let c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
    let xv = x.asReals
    return Value(shape: x.shape, reals: xv.indices.map { f(($0 / inner) % c, xv[$0]) })
  }

  private func broadcast(_ a: Value, _ b: Value, _ op: BinaryOp, _ fail: (String) -> Failure) throws -> Value {
    let (shape, index) = try broadcastPairs(a.shape, b.shape, fail)
    if a.isInt && b.isInt {
      return Value(shape: shape, ints: index.map { i, j in
        let (u, v) = (a.ints[i], b.ints[j])
        switch op { case .add: return u + v; case .sub: return u - v; case .mul: return u * v; case .div: return u / v }
      })
    }
    let av = a.asReals, bv = b.asReals
    return Value(shape: shape, reals: index.map { i, j in
      let (u, v) = (av[i], bv[j])
      switch op { case .add: return u + v; case .sub: return u - v; case .mul: return u * v; case .div: return u / v }
    })
  }

  private func gemm(_ a: Value, _ b: Value, _ c: Value?, _ p: GemmParameters, _ fail: (String) -> Failure) throws -> Value {
    guard a.shape.count == 2, b.shape.count == 2 else { throw fail("shapes \(a.shape) \(b.shape)") }
    let (m, k) = p.transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
    let n = p.transB ? b.shape[0] : b.shape[1]
    guard (p.transB ? b.shape[1] : b.shape[0]) == k else { throw fail("inner dimensions differ") }
    let av = a.asReals, bv = b.asReals
    func aAt(_ i: Int, _ j: Int) -> Double { p.transA ? av[j * m + i] : av[i * k + j] }
    func bAt(_ i: Int, _ j: Int) -> Double { p.transB ? bv[j * k + i] : bv[i * n + j] }
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for t in 0..<k { s += aAt(i, t) * bAt(t, j) }
        out[i * n + j] = Double(p.alpha) * s
      }
    }
    if let c {
      // C broadcasts to [M, N] (unidirectional).
      let pc = [Int](repeating: 1, count: 2 - c.shape.count) + c.shape
      guard (pc[0] == 1 || pc[0] == m) && (pc[1] == 1 || pc[1] == n) else { throw fail("C \(c.shape)") }
      let cv = c.asReals
      for i in 0..<m {
        for j in 0..<n { out[i * n + j] += Double(p.beta) * cv[(pc[0] == 1 ? 0 : i) * pc[1] + (pc[1] == 1 ? 0 : j)] }
      }
    }
    return Value(shape: [m, n], reals: out)
  }

  /// Explicit (begin, end) pads of one spatial axis for an `auto_pad` setting (ONNX spec:
  /// SAME_* keeps ceil(in / stride) outputs, the odd pad goes at the end for SAME_UPPER and at
  /// the beginning for SAME_LOWER; VALID pads nothing).
  static func autoPads(_ autoPad: AutoPad, input: Int, kernel: Int, stride: Int, dilation: Int,
                       explicit: (Int, Int)) -> (Int, Int) {
    switch autoPad {
    case .explicit: return explicit
    case .valid: return (0, 0)
    case .sameUpper, .sameLower:
      let out = (input + stride - 1) / stride
      let total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - input)
      return autoPad == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
    }
  }

  /// Window geometry of one axis: the start (in input coordinates) of every window.
  private func windowStarts(input: Int, kernel: Int, stride: Int, dilation: Int, pads: (Int, Int), ceil: Bool) -> [Int] {
    let extent = (kernel - 1) * dilation + 1
    var starts: [Int] = []
    var o = 0
    while true {
      let begin = o * stride - pads.0
      let fits = begin + extent <= input + pads.1
      // Ceil mode also keeps a last partial window, unless it starts inside the end padding.
      let keep = fits || (ceil && begin + extent < input + pads.1 + stride && begin < input)
      guard keep else { break }
      starts.append(begin)
      o += 1
    }
    return starts
  }

  private func convolution(_ x: Value, _ w: Value, _ b: Value?, _ conv: Conv2D, _ fail: (String) -> Failure) throws -> Value {
    guard x.shape.count == 4, w.shape.count == 4 else { throw fail("shapes \(x.shape) \(w.shape)") }
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let g = conv.group, win = conv.window
    guard c == cg * g, m % g == 0 else { throw fail("weight \(w.shape), group \(g), input \(x.shape)") }
    let padH = Self.autoPads(conv.autoPad, input: h, kernel: kh, stride: win.strideH, dilation: win.dilationH, explicit: (win.padTop, win.padBottom))
    let padW = Self.autoPads(conv.autoPad, input: wd, kernel: kw, stride: win.strideW, dilation: win.dilationW, explicit: (win.padLeft, win.padRight))
    let rows = windowStarts(input: h, kernel: kh, stride: win.strideH, dilation: win.dilationH, pads: padH, ceil: false)
    let cols = windowStarts(input: wd, kernel: kw, stride: win.strideW, dilation: win.dilationW, pads: padW, ceil: false)
    let xv = x.asReals, wv = w.asReals, bv = b?.asReals
    let perGroup = m / g
    var out: [Double] = []
    out.reserveCapacity(n * m * rows.count * cols.count)
    for i in 0..<n {
      for o in 0..<m {
        let group = o / perGroup
        for r in rows {
          for s in cols {
            var sum = bv?[o] ?? 0
            for ci in 0..<cg {
              let channel = group * cg + ci
              for a in 0..<kh {
                let y = r + a * win.dilationH
                guard (0..<h).contains(y) else { continue }
                for bb in 0..<kw {
                  let z = s + bb * win.dilationW
                  guard (0..<wd).contains(z) else { continue }
                  sum += xv[((i * c + channel) * h + y) * wd + z] * wv[((o * cg + ci) * kh + a) * kw + bb]
                }
              }
            }
            out.append(sum)
          }
        }
      }
    }
    return Value(shape: [n, m, rows.count, cols.count], reals: out)
  }

  private func pooling(_ x: Value, _ pool: Pool2D, isMax: Bool, _ fail: (String) -> Failure) throws -> Value {
    guard x.shape.count == 4 else { throw fail("shape \(x.shape)") }
    let (planes, h, wd) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let win = pool.window
    let padH = Self.autoPads(pool.autoPad, input: h, kernel: win.kernelH, stride: win.strideH, dilation: win.dilationH, explicit: (win.padTop, win.padBottom))
    let padW = Self.autoPads(pool.autoPad, input: wd, kernel: win.kernelW, stride: win.strideW, dilation: win.dilationW, explicit: (win.padLeft, win.padRight))
    let rows = windowStarts(input: h, kernel: win.kernelH, stride: win.strideH, dilation: win.dilationH, pads: padH, ceil: win.ceilMode)
    let cols = windowStarts(input: wd, kernel: win.kernelW, stride: win.strideW, dilation: win.dilationW, pads: padW, ceil: win.ceilMode)
    let xv = x.asReals
    var out: [Double] = []
    for p in 0..<planes {
      for r in rows {
        for s in cols {
          var best = -Double.infinity, sum = 0.0, inside = 0, padded = 0
          for a in 0..<win.kernelH {
            let y = r + a * win.dilationH
            for bb in 0..<win.kernelW {
              let z = s + bb * win.dilationW
              // count_include_pad counts taps in the padded input, not those past it (ceil mode).
              if y >= -padH.0, y < h + padH.1, z >= -padW.0, z < wd + padW.1 { padded += 1 }
              guard (0..<h).contains(y), (0..<wd).contains(z) else { continue }
              let v = xv[(p * h + y) * wd + z]
              best = max(best, v)
              sum += v
              inside += 1
            }
          }
          let divisor = pool.countIncludePad ? padded : inside
          out.append(isMax ? best : (divisor == 0 ? 0 : sum / Double(divisor)))
        }
      }
    }
    return Value(shape: [x.shape[0], x.shape[1], rows.count, cols.count], reals: out)
  }
}

/// Row-major strides of a shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
  var result = [Int](repeating: 1, count: shape.count)
  var step = 1
  for d in shape.indices.reversed() {
    result[d] = step
    step *= shape[d]
  }
  return result
}

/// Every multi-index of `shape` in row-major order.
func allIndices(_ shape: [Int]) -> [[Int]] {
  let total = shape.reduce(1, *)
  guard total > 0 else { return [] }
  var result: [[Int]] = []
  result.reserveCapacity(total)
  var index = [Int](repeating: 0, count: shape.count)
  for _ in 0..<total {
    result.append(index)
    var d = shape.count - 1
    while d >= 0 {
      index[d] += 1
      if index[d] < shape[d] { break }
      index[d] = 0
      d -= 1
    }
  }
  return result
}

/// The activations' formulas in double precision, written from the ONNX operator specification
/// (independent of `ActivationFunction`'s implementations).
func referenceActivation(_ a: Activation) -> ((Double) -> Double)? {
  let p = a.parameters.map(Double.init)
  let sigmoid = { (x: Double) in 1 / (1 + exp(-x)) }
  switch a.name {
  case "Relu": return { max($0, 0) }
  case "LeakyRelu": return { $0 >= 0 ? $0 : p[0] * $0 }
  case "Pow": return { Foundation.pow($0, p[0]) }
  case "Clip": return { min(max($0, p[0]), p[1]) }
  case "Sigmoid": return sigmoid
  case "HardSigmoid": return { max(0, min(1, p[0] * $0 + p[1])) }
  case "HardSwish": return { $0 * max(0, min(1, $0 / 6 + 0.5)) }
  case "Tanh": return { tanh($0) }
  case "Erf": return { erf($0) }
  case "Softplus": return { log(1 + exp($0)) }
  case "Softsign": return { $0 / (1 + abs($0)) }
  case "Elu": return { $0 > 0 ? $0 : p[0] * (exp($0) - 1) }
  case "Selu": return { $0 > 0 ? p[1] * $0 : p[1] * p[0] * (exp($0) - 1) }
  case "Mish": return { $0 * tanh(log(1 + exp($0))) }
  case "ThresholdedRelu": return { $0 > p[0] ? $0 : 0 }
  case "SiLU": return { $0 * sigmoid($0) }
  case "Gelu":
    if p[0] != 0 { return { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) } }
    return { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
  default: return nil
  }
}

/// ONNX Reduce* over `axes` (negative counted from the end; none or empty: every axis, or
/// nothing with `noopWithEmptyAxes`): the output shape, the values folded with `combine` from
/// `initial`, and how many inputs each output folded.
private func reduce(_ x: ReferenceInterpreter.Value, axes: [Int]?, noopWithEmptyAxes: Bool, keepDims: Bool, initial: Double,
                    _ combine: (Double, Double) -> Double) -> (shape: [Int], values: [Double], count: Int) {
  var axes = axes ?? []
  if axes.isEmpty { axes = noopWithEmptyAxes ? [] : Array(x.shape.indices) }
  let reduced = Set(axes.map { $0 < 0 ? $0 + x.shape.count : $0 })
  let kept = x.shape.indices.map { reduced.contains($0) ? 1 : x.shape[$0] }
  var values = [Double](repeating: initial, count: kept.reduce(1, *))
  let xs = rowMajorStrides(x.shape), ks = rowMajorStrides(kept), xv = x.asReals
  for flat in 0..<x.count {
    var target = 0
    for d in x.shape.indices where !reduced.contains(d) { target += (flat / xs[d]) % x.shape[d] * ks[d] }
    values[target] = combine(values[target], xv[flat])
  }
  let shape = keepDims ? kept : x.shape.indices.filter { !reduced.contains($0) }.map { x.shape[$0] }
  return (shape, values, x.count / max(values.count, 1))
}
