import Foundation
import XCTest
@testable import Relevance

/// Builds small IR graphs by hand: nodes in order, seeded random constants.
struct GraphBuilder {
  var rng: SeededRandom
  var nodes: [Node] = []
  var constants: [ValueName: Constant] = [:]
  let input = "input"

  init(seed: UInt64) { rng = SeededRandom(seed: seed) }

  /// A float constant with uniform values in [low, high].
  mutating func weights(_ shape: [Int], _ low: Float = -0.5, _ high: Float = 0.5, name: String? = nil) -> ValueName {
    constant(Constant(shape: shape, floats: rng.floats(shape.reduce(1, *), low, high)), name: name)
  }

  mutating func ints(_ values: [Int], shape: [Int]? = nil) -> ValueName {
    constant(Constant(shape: shape ?? [values.count], ints: values))
  }

  mutating func floats(_ values: [Float], shape: [Int]? = nil) -> ValueName {
    constant(Constant(shape: shape ?? [values.count], floats: values))
  }

  mutating func constant(_ c: Constant, name: String? = nil) -> ValueName {
    let n = name ?? "c\(constants.count)"
    precondition(constants[n] == nil)
    constants[n] = c
    return n
  }

  /// Appends a node; its output is named after the node.
  @discardableResult
  mutating func add(_ op: Op, _ inputs: [ValueName], name: String? = nil) -> ValueName {
    let n = name ?? "\(op.name.lowercased())\(nodes.count)"
    nodes.append(Node(name: n, op: op, inputs: inputs, outputs: [n + ":0"], sourceOpType: op.name))
    return n + ":0"
  }

  mutating func conv(_ x: ValueName, in c: Int, out m: Int, kernel k: Int = 3, group: Int = 1, stride: Int = 1,
                     dilation: Int = 1, pads: [Int] = [1, 1, 1, 1], bias: Bool = true, autoPad: AutoPad = .explicit,
                     name: String? = nil) -> ValueName {
    let w = weights([m, c / group, k, k])
    let window = Window2D(kernelH: k, kernelW: k, strideH: stride, strideW: stride, dilationH: dilation, dilationW: dilation,
                          padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3])
    let inputs = bias ? [x, w, weights([m], -0.2, 0.2)] : [x, w]
    return add(.conv(Conv2D(window: window, group: group, autoPad: autoPad)), inputs, name: name)
  }

  mutating func batchNorm(_ x: ValueName, channels c: Int, epsilon: Float = 1e-3, name: String? = nil) -> ValueName {
    let inputs = [x, weights([c], 0.5, 1.5), weights([c], -0.3, 0.3), weights([c], -0.3, 0.3), weights([c], 0.2, 2)]
    return add(.batchNorm(epsilon: epsilon), inputs, name: name)
  }

  mutating func affine(_ x: ValueName, channels c: Int, name: String? = nil) -> ValueName {
    add(.affine, [x, weights([c], 0.5, 1.5), weights([c], -0.3, 0.3)], name: name)
  }

  mutating func dense(_ x: ValueName, in k: Int, out m: Int, name: String? = nil) -> ValueName {
    add(.dense, [x, weights([m, k]), weights([m], -0.2, 0.2)], name: name)
  }

  /// The graph with a symbolic batch axis and fixed other axes.
  func graph(_ inputShape: [Int], outputs: [ValueName]) -> Graph {
    Graph(name: "hand-built", source: "hand-built.onnx", input: input,
          declaredInputShape: [.symbolic("N")] + inputShape.dropFirst().map { .fixed($0) },
          outputs: outputs, nodes: nodes, constants: constants, opsetVersion: 13, producer: "PassTests")
  }
}

/// One hand-built graph and the input shape it is evaluated on.
struct PassCase {
  var name: String
  var graph: Graph
  var inputShape: [Int]
  /// When canonicalization strips a trailing Softmax: the value of the original graph that the
  /// canonical output equals.
  var logits: ValueName? = nil
}

/// Every canonicalization pass on its own: the graph computes the same function before and
/// after (checked with `ReferenceInterpreter`), and the graph changed as the pass promises.
/// Then the whole pipeline plus `ForwardPlan` against the interpreter on the same graphs, and
/// `InferShapes`' constant folding, auto_pad resolution and Slice arithmetic.
final class PassTests: XCTestCase {
  // MARK: - Harness

  /// Binds the input, infers shapes, evaluates; runs `pass` once (then InferShapes), checks
  /// the graph is well formed and evaluates again. Outputs are compared by position, or, with
  /// `byName`, each output of the new graph against the same-named value of the old one.
  @discardableResult
  func checkPass(_ pass: GraphPass, _ c: PassCase, changes: Bool = true, byName: Bool = false,
                 file: StaticString = #filePath, line: UInt = #line) throws -> (before: Graph, after: Graph) {
    var g = c.graph
    try Canonicalizer.bindInput(&g, c.inputShape)
    _ = try InferShapes().run(on: &g)
    let before = g
    var rng = SeededRandom(seed: 99)
    let input = rng.tensor(c.inputShape)
    let old = try ReferenceInterpreter(graph: before).run(input)
    let changed = try pass.run(on: &g)
    XCTAssertEqual(changed, changes, "\(c.name): \(pass.name) reported changed=\(changed)", file: file, line: line)
    if changed { _ = try InferShapes().run(on: &g) } else {
      XCTAssertEqual(g.nodes, before.nodes, "\(c.name): \(pass.name) said unchanged but edited nodes", file: file, line: line)
    }
    assertWellFormed(g, c.name, file: file, line: line)
    let new = try ReferenceInterpreter(graph: g).run(input)
    XCTAssertEqual(g.outputs.count, before.outputs.count, c.name, file: file, line: line)
    for (i, name) in g.outputs.enumerated() {
      let expected = try XCTUnwrap(old[byName ? name : before.outputs[i]], "\(c.name): no value \(name) before", file: file, line: line)
      let actual = new[name]!
      XCTAssertEqual(actual.shape, expected.shape, "\(c.name): output \(i)", file: file, line: line)
      let error = relativeError(actual.floats, expected.floats)
      XCTAssertLessThan(error, 1e-5, "\(c.name): \(pass.name) changed output \(i) by \(error) (relative)", file: file, line: line)
    }
    return (before, g)
  }

  /// Topological order, one producer per value, every input available, outputs produced.
  func assertWellFormed(_ g: Graph, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    var available = Set(g.constants.keys).union([g.input])
    for node in g.nodes {
      for input in node.inputs where !input.isEmpty {
        XCTAssertTrue(available.contains(input), "\(what): \(node.name) reads '\(input)' before it exists", file: file, line: line)
      }
      for output in node.outputs {
        XCTAssertFalse(available.contains(output), "\(what): '\(output)' has two producers", file: file, line: line)
        available.insert(output)
      }
    }
    for output in g.outputs { XCTAssertTrue(available.contains(output), "\(what): output '\(output)' missing", file: file, line: line) }
  }

  func count(_ g: Graph, _ predicate: (Op) -> Bool) -> Int { g.nodes.filter { predicate($0.op) }.count }
  func isAffine(_ op: Op) -> Bool { op == .affine }
  func isElementwise(_ op: Op) -> Bool { if case .elementwise = op { return true } else { return false } }
  func isConv(_ op: Op) -> Bool { if case .conv = op { return true } else { return false } }
  func isDense(_ op: Op) -> Bool { op == .dense }

  // MARK: - Graphs

  /// conv → BatchNormalization → relu (and a 2-D BatchNorm after a Gemm).
  static func convBatchNormRelu() -> PassCase {
    var b = GraphBuilder(seed: 1)
    var x = b.conv(b.input, in: 3, out: 4, pads: [1, 0, 2, 1], name: "conv1")
    x = b.batchNorm(x, channels: 4, name: "bn1")
    x = b.add(.relu, [x], name: "relu1")
    x = b.add(.flatten(axis: 1), [x])
    let w = b.weights([4 * 7 * 5, 5])
    x = b.add(.gemm(GemmParameters(alpha: 1, beta: 1, transA: false, transB: false)), [x, w, b.weights([5])], name: "fc")
    x = b.batchNorm(x, channels: 5, epsilon: 1e-5, name: "bn2")
    return PassCase(name: "conv-bn-relu", graph: b.graph([2, 3, 6, 6], outputs: [x]), inputShape: [2, 3, 6, 6])
  }

  /// ReduceMean as torch's dynamo exporter writes adaptive average pooling: spatial axes with
  /// and without keepdims, axes as an input (opset 18) or an attribute; and one over channels,
  /// which is not a pooling and must stay.
  static func reduceMeans() -> PassCase {
    var b = GraphBuilder(seed: 17)
    let x = b.conv(b.input, in: 3, out: 4, name: "conv1")
    let kept = b.add(.reduceMean(axes: nil, keepDims: true, noopWithEmptyAxes: false), [x, b.ints([-1, -2])], name: "mean_keep")
    let dropped = b.add(.reduceMean(axes: [2, 3], keepDims: false, noopWithEmptyAxes: false), [x], name: "mean_drop")
    let channels = b.add(.reduceMean(axes: [1], keepDims: true, noopWithEmptyAxes: false), [x], name: "mean_channels")
    return PassCase(name: "reduce-mean", graph: b.graph([2, 3, 5, 4], outputs: [kept, dropped, channels]), inputShape: [2, 3, 5, 4])
  }

  /// BatchNorm right after the input (nothing to fold into: stays an affine node).
  static func batchNormOnInput() -> PassCase {
    var b = GraphBuilder(seed: 2)
    var x = b.batchNorm(b.input, channels: 3, name: "bn0")
    x = b.conv(x, in: 3, out: 2, pads: [0, 0, 0, 0], name: "conv1")
    return PassCase(name: "bn-on-input", graph: b.graph([1, 3, 5, 5], outputs: [x]), inputShape: [1, 3, 5, 5])
  }

  /// Gemm in every form exporters use: transB 0/1, alpha/beta, C of shape [M], [1, M], scalar, none, beta 0.
  static func gemms() -> PassCase {
    var b = GraphBuilder(seed: 3)
    var x = b.add(.flatten(axis: 1), [b.input])
    func gemm(_ alpha: Float, _ beta: Float, transB: Bool) -> Op {
      .gemm(GemmParameters(alpha: alpha, beta: beta, transA: false, transB: transB))
    }
    x = b.add(gemm(0.5, 2, transB: false), [x, b.weights([32, 6]), b.weights([6])], name: "g_c_m")
    x = b.add(.relu, [x])
    x = b.add(gemm(1, 1, transB: true), [x, b.weights([5, 6]), b.weights([1, 5])], name: "g_c_1m")
    x = b.add(.relu, [x])
    x = b.add(gemm(1.5, 0.7, transB: false), [x, b.weights([5, 4]), b.weights([], name: "scalar_c")], name: "g_c_scalar")
    x = b.add(gemm(1, 1, transB: true), [x, b.weights([4, 4])], name: "g_no_c")
    x = b.add(gemm(1, 0, transB: false), [x, b.weights([4, 3]), b.weights([3])], name: "g_beta0")
    return PassCase(name: "gemms", graph: b.graph([3, 2, 4, 4], outputs: [x]), inputShape: [3, 2, 4, 4])
  }

  /// MatMul + Add(bias) in both operand orders, as tf2onnx writes Dense layers.
  static func matMulAdd() -> PassCase {
    var b = GraphBuilder(seed: 4)
    var x = b.add(.flatten(axis: 1), [b.input])
    x = b.add(.matMul, [x, b.weights([48, 5])], name: "mm1")
    x = b.add(.elementwise(.add), [x, b.weights([5])], name: "bias1")
    x = b.add(.relu, [x])
    x = b.add(.matMul, [x, b.weights([5, 3])], name: "mm2")
    x = b.add(.elementwise(.add), [b.weights([3]), x], name: "bias2")
    return PassCase(name: "matmul-add", graph: b.graph([2, 3, 4, 4], outputs: [x]), inputShape: [2, 3, 4, 4])
  }

  /// A Keras BatchNormalization after a ReLU (Mul/Add by [1, C, 1, 1]), and per-channel
  /// constants in every shape and operand order that broadcasts per channel.
  static func kerasScaleShift() -> PassCase {
    var b = GraphBuilder(seed: 5)
    var x = b.conv(b.input, in: 3, out: 4, name: "conv1")
    x = b.add(.relu, [x], name: "relu1")
    x = b.add(.elementwise(.mul), [x, b.weights([1, 4, 1, 1], 0.5, 1.5)], name: "bn_mul")
    x = b.add(.elementwise(.add), [x, b.weights([1, 4, 1, 1])], name: "bn_add")
    x = b.add(.elementwise(.mul), [b.weights([4, 1, 1], 0.5, 1.5), x], name: "mul_c11_first")
    x = b.add(.elementwise(.sub), [x, b.weights([1])], name: "sub_1")
    x = b.add(.elementwise(.div), [x, b.weights([], 0.5, 2)], name: "div_scalar")
    x = b.add(.maxPool(Pool2D(window: Window2D(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2), autoPad: .explicit,
                              countIncludePad: false)), [x])
    x = b.add(.flatten(axis: 1), [x])
    x = b.add(.elementwise(.add), [b.weights([16]), x], name: "add_c_first_2d")
    x = b.add(.elementwise(.sub), [x, b.weights([1, 16])], name: "sub_2d")
    return PassCase(name: "keras-scale-shift", graph: b.graph([2, 3, 5, 5], outputs: [x]), inputShape: [2, 3, 5, 5])
  }

  /// Constants that are not per channel, and c − x, c / x: all stay elementwise.
  static func notPerChannel() -> PassCase {
    var b = GraphBuilder(seed: 6)
    var x = b.conv(b.input, in: 3, out: 4, name: "conv1")
    x = b.add(.relu, [x])
    x = b.add(.elementwise(.mul), [x, b.weights([1, 4, 5, 6], 0.5, 1.5)], name: "mul_full")
    x = b.add(.elementwise(.add), [x, b.weights([6])], name: "add_w_axis")  // [C] on NCHW broadcasts along W
    x = b.add(.elementwise(.sub), [b.weights([1, 4, 1, 1]), x], name: "c_minus_x")
    x = b.add(.elementwise(.div), [b.weights([1, 4, 1, 1], 2, 3), b.add(.relu, [x])], name: "c_over_x")
    return PassCase(name: "not-per-channel", graph: b.graph([2, 3, 5, 6], outputs: [x]), inputShape: [2, 3, 5, 6])
  }

  /// Input normalization (x − mean) / std right after the input, NCHW and NHWC + Transpose.
  static func inputNormalization() -> PassCase {
    var b = GraphBuilder(seed: 7)
    var x = b.add(.elementwise(.sub), [b.input, b.weights([1, 3, 1, 1])], name: "sub_mean")
    x = b.add(.elementwise(.div), [x, b.weights([1, 3, 1, 1], 0.2, 0.3)], name: "div_std")
    x = b.conv(x, in: 3, out: 2, name: "conv1")
    return PassCase(name: "input-normalization", graph: b.graph([2, 3, 4, 4], outputs: [x]), inputShape: [2, 3, 4, 4])
  }

  static func inputNormalizationNHWC() -> PassCase {
    var b = GraphBuilder(seed: 8)
    var x = b.add(.elementwise(.mul), [b.input, b.weights([3], 0.5, 1)], name: "scale")
    x = b.add(.elementwise(.add), [x, b.weights([3])], name: "offset")
    x = b.add(.transpose(perm: [0, 3, 1, 2]), [x], name: "to_nchw")
    x = b.add(.elementwise(.sub), [x, b.weights([1, 3, 1, 1])], name: "sub_mean")
    x = b.conv(x, in: 3, out: 2, name: "conv1")
    return PassCase(name: "input-normalization-nhwc", graph: b.graph([2, 4, 5, 3], outputs: [x]), inputShape: [2, 4, 5, 3])
  }

  /// affine → affine (merged), and pairs that must not merge (shared value, graph output).
  static func affinePairs() -> PassCase {
    var b = GraphBuilder(seed: 9)
    var x = b.conv(b.input, in: 2, out: 3, name: "conv1")
    x = b.add(.relu, [x])
    let a1 = b.affine(x, channels: 3, name: "a1")
    let a2 = b.affine(a1, channels: 3, name: "a2")
    let r = b.add(.relu, [a2])
    let a3 = b.affine(r, channels: 3, name: "a3")                 // read twice: a4 and r2
    let a4 = b.affine(a3, channels: 3, name: "a4")
    let r2 = b.add(.relu, [a3])
    let cat = b.add(.concat(axis: 1), [a4, r2])
    let a5 = b.affine(cat, channels: 6, name: "a5")               // also a graph output
    let a6 = b.affine(a5, channels: 6, name: "a6")
    return PassCase(name: "affine-pairs", graph: b.graph([2, 2, 4, 4], outputs: [a6, a5]), inputShape: [2, 2, 4, 4])
  }

  /// Affines next to linear layers: backward into conv (bias, no bias, grouped) and dense,
  /// forward into dense directly and through Flatten; and affines that cannot fold.
  static func foldableAffines() -> PassCase {
    var b = GraphBuilder(seed: 10)
    var x = b.conv(b.input, in: 4, out: 6, name: "conv_bias")
    x = b.affine(x, channels: 6, name: "aff_conv_bias")
    x = b.add(.relu, [x])
    x = b.conv(x, in: 6, out: 4, group: 2, stride: 2, bias: false, name: "conv_grouped")
    x = b.affine(x, channels: 4, name: "aff_conv_grouped")
    x = b.add(.relu, [x])
    x = b.affine(x, channels: 4, name: "aff_before_flatten")
    x = b.add(.flatten(axis: 1), [x])
    x = b.dense(x, in: 4 * 3 * 3, out: 5, name: "fc1")
    x = b.affine(x, channels: 5, name: "aff_dense")
    x = b.add(.relu, [x])
    x = b.affine(x, channels: 5, name: "aff_before_dense")
    x = b.dense(x, in: 5, out: 3, name: "fc2")
    return PassCase(name: "foldable-affines", graph: b.graph([2, 4, 6, 6], outputs: [x]), inputShape: [2, 4, 6, 6])
  }

  static func unfoldableAffines() -> PassCase {
    var b = GraphBuilder(seed: 11)
    let c = b.conv(b.input, in: 3, out: 4, name: "conv1")
    let a = b.affine(c, channels: 4, name: "aff_shared_conv")      // conv output also read by relu_side
    let side = b.add(.relu, [c], name: "relu_side")
    var x = b.add(.elementwise(.add), [a, side])
    x = b.add(.relu, [x])
    x = b.affine(x, channels: 4, name: "aff_before_conv")          // a following conv's zero padding sees the shift
    x = b.conv(x, in: 4, out: 4, name: "conv2")
    x = b.add(.relu, [x])
    x = b.affine(x, channels: 4, name: "aff_before_reshape")       // Reshape, not Flatten
    x = b.add(.reshape(allowZero: false), [x, b.ints([0, -1])])
    x = b.dense(x, in: 4 * 5 * 5, out: 3, name: "fc")
    return PassCase(name: "unfoldable-affines", graph: b.graph([2, 3, 5, 5], outputs: [x]), inputShape: [2, 3, 5, 5])
  }

  /// Identity and Dropout chains: on the input, in the middle, on a branch, at the output.
  static func identityChains() -> PassCase {
    var b = GraphBuilder(seed: 12)
    var x = b.add(.identity, [b.input], name: "id_input")
    x = b.conv(x, in: 3, out: 4, name: "conv1")
    x = b.add(.identity, [x], name: "id1")
    x = b.add(.dropout, [x], name: "drop1")
    x = b.add(.identity, [x], name: "id2")
    x = b.add(.relu, [x])
    let branch = b.add(.dropout, [x], name: "drop_branch")
    let l = b.conv(branch, in: 4, out: 2, kernel: 1, pads: [0, 0, 0, 0], name: "left")
    let r = b.conv(branch, in: 4, out: 3, name: "right")
    x = b.add(.concat(axis: 1), [l, r])
    x = b.add(.dropout, [x], name: "drop_out")
    x = b.add(.identity, [x], name: "id_out")
    return PassCase(name: "identity-chains", graph: b.graph([2, 3, 4, 4], outputs: [x]), inputShape: [2, 3, 4, 4])
  }

  /// A classifier ending in Softmax.
  static func trailingSoftmax() -> PassCase {
    var b = GraphBuilder(seed: 13)
    var x = b.conv(b.input, in: 3, out: 4, stride: 2, name: "conv1")
    x = b.add(.relu, [x])
    x = b.add(.flatten(axis: 1), [x])
    let logits = b.add(.gemm(GemmParameters(alpha: 1, beta: 1, transA: false, transB: true)),
                       [x, b.weights([5, 4 * 3 * 3]), b.weights([5])], name: "fc")
    let prob = b.add(.softmax(axis: 1), [logits], name: "prob")
    return PassCase(name: "trailing-softmax", graph: b.graph([2, 3, 6, 6], outputs: [prob]), inputShape: [2, 3, 6, 6], logits: logits)
  }

  /// Softmax that is not trailing: followed by a Mul, and a Softmax output that another node
  /// reads as well.
  static func innerSoftmax() -> PassCase {
    var b = GraphBuilder(seed: 14)
    var x = b.add(.flatten(axis: 1), [b.input])
    x = b.dense(x, in: 12, out: 4, name: "fc")
    let s1 = b.add(.softmax(axis: -1), [x], name: "attention")
    let scaled = b.add(.elementwise(.mul), [s1, b.weights([4])], name: "scaled")
    let s2 = b.add(.softmax(axis: 1), [scaled], name: "prob_also_read")
    let tail = b.add(.relu, [s2])
    return PassCase(name: "inner-softmax", graph: b.graph([2, 3, 2, 2], outputs: [s2, tail]), inputShape: [2, 3, 2, 2])
  }

  /// Most ops in one graph: dilated strided grouped conv with asymmetric pads, LeakyReLU,
  /// ceil-mode pools (count_include_pad), LRN, concat, clip, pad, global pool, squeeze, softmax.
  static func mixed() -> PassCase {
    var b = GraphBuilder(seed: 15)
    var x = b.conv(b.input, in: 4, out: 6, group: 2, stride: 2, dilation: 2, pads: [2, 1, 1, 2], name: "conv_dilated")
    x = b.batchNorm(x, channels: 6, name: "bn")
    x = b.add(.leakyRelu(alpha: 0.1), [x])
    let pool = Pool2D(window: Window2D(kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padTop: 1, padLeft: 0, padBottom: 0,
                                       padRight: 1, ceilMode: true), autoPad: .explicit, countIncludePad: false)
    let p1 = b.add(.maxPool(pool), [x], name: "maxpool_ceil")
    var avg = pool
    avg.countIncludePad = true
    let p2 = b.add(.avgPool(avg), [x], name: "avgpool_ceil_incl")
    var avgEx = pool
    avgEx.window.dilationH = 2
    let p3 = b.add(.avgPool(avgEx), [b.add(.pad, [x, b.ints([0, 0, 0, 1, 0, 0, 1, 0]), b.floats([0.25], shape: [])])],
                   name: "avgpool_dilated")
    x = b.add(.concat(axis: -3), [p1, p2])
    x = b.add(.lrn(LRNParameters(size: 3, alpha: 1e-2, beta: 0.75, bias: 1)), [x])
    x = b.add(.clip(min: -0.5, max: 0.8), [x])
    x = b.conv(x, in: 12, out: 5, kernel: 1, pads: [0, 0, 0, 0], name: "conv_1x1")
    x = b.add(.globalAvgPool, [x])
    let side = b.add(.globalAvgPool, [b.conv(p3, in: 6, out: 5, kernel: 1, pads: [0, 0, 0, 0], name: "conv_side")])
    x = b.add(.elementwise(.add), [x, side])
    x = b.add(.squeeze(axes: [2, 3]), [x])
    x = b.add(.unsqueeze(axes: nil), [x, b.ints([1])])
    x = b.add(.transpose(perm: [0, 2, 1]), [x])
    x = b.add(.reshape(allowZero: false), [x, b.ints([-1, 5])])
    x = b.add(.gemm(GemmParameters(alpha: 1, beta: 1, transA: false, transB: true)), [x, b.weights([3, 5]), b.weights([3])], name: "fc")
    let logits = x
    x = b.add(.softmax(axis: 1), [x], name: "prob")
    return PassCase(name: "mixed", graph: b.graph([2, 4, 11, 10], outputs: [x]), inputShape: [2, 4, 11, 10], logits: logits)
  }

  /// A Keras Flatten as tf2onnx writes it: NHWC Transpose, Shape → Gather → Cast → Unsqueeze
  /// → Concat([-1]) → Reshape, then MatMul + Add, then a Keras Reshape via Shape → Slice.
  static func tf2onnxFlatten() -> PassCase {
    var b = GraphBuilder(seed: 16)
    var x = b.add(.transpose(perm: [0, 3, 1, 2]), [b.input], name: "to_nchw")
    x = b.conv(x, in: 3, out: 4, name: "conv1")
    x = b.add(.relu, [x])
    x = b.add(.transpose(perm: [0, 2, 3, 1]), [x], name: "to_nhwc")
    let shape = b.add(.shape(start: 0, end: nil), [x], name: "flatten/Shape")
    let batch = b.add(.gather(axis: 0), [shape, b.ints([0], shape: [])], name: "flatten/strided_slice")
    let cast = b.add(.cast(toFloat: false), [batch], name: "flatten/Cast")
    let unsq = b.add(.unsqueeze(axes: nil), [cast, b.ints([0])], name: "flatten/Unsqueeze")
    let target = b.add(.concat(axis: 0), [unsq, b.ints([-1])], name: "flatten/Concat")
    x = b.add(.reshape(allowZero: false), [x, target], name: "flatten/Reshape")
    x = b.add(.matMul, [x, b.weights([4 * 4 * 5, 6])], name: "dense/MatMul")
    x = b.add(.elementwise(.add), [x, b.weights([6])], name: "dense/BiasAdd")
    x = b.add(.relu, [x])
    let shape2 = b.add(.shape(start: 0, end: nil), [x], name: "reshape/Shape")
    let first = b.add(.slice, [shape2, b.ints([0]), b.ints([1]), b.ints([0])], name: "reshape/strided_slice")
    let target2 = b.add(.concat(axis: 0), [first, b.ints([6])], name: "reshape/Reshape/shape")
    x = b.add(.reshape(allowZero: false), [x, target2], name: "reshape/Reshape")
    // ConstantOfShape of a computed shape, added to the activation.
    let shape3 = b.add(.shape(start: 0, end: nil), [x], name: "fill/Shape")
    let fill = b.add(.constantOfShape(value: Constant(shape: [1], floats: [0.25])), [shape3], name: "fill/ConstantOfShape")
    x = b.add(.elementwise(.add), [x, fill], name: "fill/Add")
    return PassCase(name: "tf2onnx-flatten", graph: b.graph([2, 4, 5, 3], outputs: [x]), inputShape: [2, 4, 5, 3])
  }

  /// Every graph the whole pipeline must canonicalize.
  static var canonicalizable: [PassCase] {
    [convBatchNormRelu(), batchNormOnInput(), gemms(), matMulAdd(), kerasScaleShift(), notPerChannel(), inputNormalization(),
     inputNormalizationNHWC(), affinePairs(), foldableAffines(), unfoldableAffines(), identityChains(), trailingSoftmax(),
     innerSoftmax(), mixed(), tf2onnxFlatten(), zeroPads(), padsThatStay(), kerasMobileNetV3()]
  }

  // MARK: - RemoveIdentities

  func testRemoveIdentities() throws {
    let c = Self.identityChains()
    let (before, after) = try checkPass(RemoveIdentities(), c)
    XCTAssertEqual(count(after) { $0 == .identity || $0 == .dropout }, 0)
    XCTAssertEqual(after.nodes.count, before.nodes.count - 7)
    XCTAssertEqual(after.nodes.first { $0.name == "conv1" }?.inputs[0], after.input, "conv1 reads the input directly")
    XCTAssertEqual(after.outputs, [after.nodes.last!.output], "the output is the concat")
    try checkPass(RemoveIdentities(), Self.convBatchNormRelu(), changes: false)
  }

  // MARK: - StripTrailingSoftmax

  func testStripTrailingSoftmax() throws {
    let c = Self.trailingSoftmax()
    let (before, after) = try checkPass(StripTrailingSoftmax(), c, byName: true)
    XCTAssertEqual(after.nodes.count, before.nodes.count - 1)
    XCTAssertEqual(after.outputs, [c.logits!])
    XCTAssertTrue(after.notes.contains { $0.contains("Softmax 'prob'") }, "\(after.notes)")
    XCTAssertFalse(after.nodes.contains { if case .softmax = $0.op { return true } else { return false } })
  }

  func testSoftmaxThatIsNotTrailingStays() throws {
    let (_, after) = try checkPass(StripTrailingSoftmax(), Self.innerSoftmax(), changes: false)
    XCTAssertEqual(count(after) { if case .softmax = $0 { return true } else { return false } }, 2)
    XCTAssertTrue(after.notes.isEmpty)
  }

  // MARK: - LowerBatchNorm

  func testLowerBatchNorm() throws {
    for c in [Self.convBatchNormRelu(), Self.batchNormOnInput(), Self.mixed()] {
      let (before, after) = try checkPass(LowerBatchNorm(), c)
      XCTAssertEqual(count(after) { if case .batchNorm = $0 { return true } else { return false } }, 0, c.name)
      XCTAssertEqual(count(after, isAffine), count(before) { if case .batchNorm = $0 { return true } else { return false } }, c.name)
      XCTAssertEqual(after.nodes.count, before.nodes.count, c.name)
    }
  }

  // MARK: - LowerReduceMean

  func testLowerReduceMean() throws {
    let (_, after) = try checkPass(LowerReduceMean(), Self.reduceMeans())
    XCTAssertEqual(count(after) { $0 == .globalAvgPool }, 2)
    XCTAssertEqual(count(after) { $0 == .flatten(axis: 1) }, 1, "keepdims 0 adds a flatten")
    XCTAssertEqual(count(after) { if case .reduceMean = $0 { return true } else { return false } }, 1, "the channel mean stays")
  }

  // MARK: - LowerConstantScaleShift

  func testLowerConstantScaleShiftPerChannel() throws {
    let c = Self.kerasScaleShift()
    let (before, after) = try checkPass(LowerConstantScaleShift(), c)
    XCTAssertEqual(count(before, isElementwise), 7)
    XCTAssertEqual(count(after, isElementwise), 0, "every per-channel Mul/Add/Sub/Div becomes affine")
    XCTAssertEqual(count(after, isAffine), 7)
    XCTAssertEqual(after.nodes.count, before.nodes.count)
  }

  func testLowerConstantScaleShiftKeepsOtherConstantsElementwise() throws {
    let (_, after) = try checkPass(LowerConstantScaleShift(), Self.notPerChannel(), changes: false)
    XCTAssertEqual(count(after, isElementwise), 4)
    XCTAssertEqual(count(after, isAffine), 0)
  }

  func testLowerConstantScaleShiftKeepsInputNormalization() throws {
    for c in [Self.inputNormalization(), Self.inputNormalizationNHWC()] {
      let (before, after) = try checkPass(LowerConstantScaleShift(), c, changes: false)
      XCTAssertEqual(count(after, isElementwise), count(before, isElementwise), c.name)
      XCTAssertEqual(count(after, isAffine), 0, c.name)
    }
  }

  // MARK: - LowerDense

  func testLowerDenseGemm() throws {
    let (before, after) = try checkPass(LowerDense(), Self.gemms())
    XCTAssertEqual(count(after) { if case .gemm = $0 { return true } else { return false } }, 0)
    XCTAssertEqual(count(after, isDense), 5)
    XCTAssertEqual(after.nodes.count, before.nodes.count)
    for node in after.nodes where node.op == .dense {
      let w = try XCTUnwrap(after.constant(node, 1))
      XCTAssertEqual(after.shapes[node.output], [3, w.shape[0]], node.name)
      XCTAssertEqual(node.inputs.count, ["g_no_c", "g_beta0"].contains(node.name) ? 2 : 3, "\(node.name): bias")
      if node.inputs.count == 3 { XCTAssertEqual(after.constant(node, 2)?.shape, [w.shape[0]], node.name) }
    }
  }

  func testLowerDenseMatMulLeavesTheBiasAdd() throws {
    let (_, after) = try checkPass(LowerDense(), Self.matMulAdd())
    XCTAssertEqual(count(after) { $0 == .matMul }, 0)
    XCTAssertEqual(count(after, isDense), 2)
    XCTAssertEqual(count(after, isElementwise), 2, "the bias Adds are the affine passes' job")
  }

  func testLowerDenseLeavesWhatIsNotDense() throws {
    // MatMul of a rank-3 activation, Gemm with transA, Gemm with C varying across rows.
    var b = GraphBuilder(seed: 20)
    let m = b.add(.matMul, [b.input, b.weights([6, 3])], name: "mm_rank3")
    let f = b.add(.flatten(axis: 1), [m])
    let t = b.add(.transpose(perm: [1, 0]), [f])
    let g = b.add(.gemm(GemmParameters(alpha: 1, beta: 1, transA: true, transB: false)), [t, b.weights([12, 2])], name: "gemm_transA")
    let c = PassCase(name: "not-dense", graph: b.graph([2, 4, 6], outputs: [g]), inputShape: [2, 4, 6])
    try checkPass(LowerDense(), c, changes: false)
    XCTAssertThrowsError(try Canonicalizer.canonicalize(c.graph, inputShape: c.inputShape)) { error in
      let text = String(describing: error)
      XCTAssertTrue(text.contains("hand-built.onnx") && text.contains("mm_rank3") && text.contains("MatMul"), text)
    }

    var b2 = GraphBuilder(seed: 21)
    let y = b2.add(.gemm(GemmParameters(alpha: 1, beta: 1, transA: false, transB: true)),
                   [b2.input, b2.weights([3, 4]), b2.weights([2, 3])], name: "gemm_row_bias")
    var graph = b2.graph([2, 4], outputs: [y])
    try Canonicalizer.bindInput(&graph, [2, 4])
    _ = try InferShapes().run(on: &graph)
    XCTAssertThrowsError(try LowerDense().run(on: &graph)) { error in
      let text = String(describing: error)
      XCTAssertTrue(text.contains("gemm_row_bias") && text.contains("varies across rows"), text)
    }
  }

  // MARK: - MergeAffines

  func testMergeAffines() throws {
    let c = Self.affinePairs()
    var (before, after) = try checkPass(MergeAffines(), c)
    XCTAssertEqual(after.nodes.count, before.nodes.count - 1)
    XCTAssertNil(after.nodes.first { $0.name == "a1" }, "a1 merged into a2")
    let a2 = try XCTUnwrap(after.nodes.first { $0.name == "a2" })
    XCTAssertEqual(after.nodes.first { $0.output == a2.inputs[0] }?.op, .relu)
    // Run it to its fixed point: a3 (read twice) and a5 (a graph output) stay.
    var g = after
    while try MergeAffines().run(on: &g) { _ = try InferShapes().run(on: &g) }
    (before, after) = try checkPass(MergeAffines(), PassCase(name: "merged", graph: g, inputShape: c.inputShape), changes: false)
    XCTAssertEqual(Set(after.nodes.filter { $0.op == .affine }.map(\.name)), ["a2", "a3", "a4", "a5", "a6"])
  }

  // MARK: - FoldAffineIntoLinear

  func testFoldAffineIntoLinear() throws {
    var g = Self.foldableAffines()
    let names = ["aff_conv_bias", "aff_conv_grouped", "aff_dense",  // backward
                 "aff_before_flatten", "aff_before_dense"]           // forward
    var folded: [String] = []
    for _ in names {
      let (before, after) = try checkPass(FoldAffineIntoLinear(), g)
      XCTAssertEqual(after.nodes.count, before.nodes.count - 1)
      let gone = Set(before.nodes.map(\.name)).subtracting(after.nodes.map(\.name))
      XCTAssertEqual(gone.count, 1)
      folded += gone
      g.graph = after
      g.graph.shapes = [:]
    }
    XCTAssertEqual(Set(folded), Set(names))
    try checkPass(FoldAffineIntoLinear(), g, changes: false)
    XCTAssertEqual(count(g.graph, isAffine), 0)
    XCTAssertEqual(g.graph.nodes.first { $0.name == "conv_grouped" }?.inputs.count, 3, "a bias was added")
    XCTAssertEqual(g.graph.nodes.first { $0.name == "fc1" }?.sourceOpType, "Affine+Dense+Affine")
  }

  func testAffineThatCannotFoldStays() throws {
    let (_, after) = try checkPass(FoldAffineIntoLinear(), Self.unfoldableAffines(), changes: false)
    XCTAssertEqual(count(after, isAffine), 3)
    let canonical = try Canonicalizer.canonicalize(Self.unfoldableAffines().graph, inputShape: [2, 3, 5, 5])
    XCTAssertEqual(canonical.nodes.filter { $0.op == .affine }.map(\.name).sorted(),
                   ["aff_before_conv", "aff_before_reshape", "aff_shared_conv"])
  }

  /// SiLU (both Mul orders) and GELU's erf decomposition (the three Mul orders exporters write,
  /// Div by √2 or Mul by 1/√2) fuse into single activations; a gate Mul(x, Sigmoid(y)) and a pattern whose inner
  /// values are read elsewhere keep what they need.
  func testFuseActivationPatterns() throws {
    var b = GraphBuilder(seed: 31)
    let x = b.conv(b.input, in: 2, out: 4)
    let y = b.conv(b.input, in: 2, out: 4)
    let silu1 = b.add(.elementwise(.mul), [x, b.add(.sigmoid, [x])], name: "silu1")
    let silu2 = b.add(.elementwise(.mul), [b.add(.sigmoid, [y]), y], name: "silu2")
    let gate = b.add(.elementwise(.mul), [x, b.add(.sigmoid, [y])], name: "gate")
    func erfPart(_ v: ValueName, divide: Bool) -> ValueName {
      let scaled = divide ? b.add(.elementwise(.div), [v, b.floats([Float(2).squareRoot()], shape: [])])
                          : b.add(.elementwise(.mul), [b.floats([1 / Float(2).squareRoot()], shape: []), v])
      let erf = b.add(.activation(Activation(Erf())), [scaled])
      return b.add(.elementwise(.add), [b.floats([1], shape: []), erf])
    }
    let gelu1 = b.add(.elementwise(.mul), [b.add(.elementwise(.mul), [x, erfPart(x, divide: true)]), b.floats([0.5], shape: [])], name: "gelu1")
    let gelu2 = b.add(.elementwise(.mul), [erfPart(y, divide: false), b.add(.elementwise(.mul), [b.floats([0.5], shape: []), y])], name: "gelu2")
    let z = b.conv(b.input, in: 2, out: 4)
    let gelu3 = b.add(.elementwise(.mul), [z, b.add(.elementwise(.mul), [b.floats([0.5], shape: []), erfPart(z, divide: true)])], name: "gelu3")
    let c = PassCase(name: "activation patterns", graph: b.graph([1, 2, 5, 5], outputs: [silu1, silu2, gate, gelu1, gelu2, gelu3]), inputShape: [1, 2, 5, 5])
    let (_, after) = try checkPass(FuseActivationPatterns(), c)
    let op = { (name: String) in after.nodes.first { $0.name == name }!.op }
    XCTAssertEqual(op("silu1"), .silu)
    XCTAssertEqual(op("silu2"), .silu)
    XCTAssertEqual(op("gate"), .elementwise(.mul))
    XCTAssertEqual(op("gelu1"), .activation(Activation(GELU(tanhApproximation: false))))
    XCTAssertEqual(op("gelu2"), .activation(Activation(GELU(tanhApproximation: false))))
    XCTAssertEqual(op("gelu3"), .activation(Activation(GELU(tanhApproximation: false))))
    // Only the gate's Sigmoid is left of the patterns' inner nodes.
    XCTAssertEqual(after.nodes.filter { $0.op == .sigmoid }.count, 1)
    XCTAssertFalse(after.nodes.contains { if case .activation(let a) = $0.op { return a.name == "Erf" } else { return false } })
  }

  /// GELU's tanh form as torch writes it before opset 20, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715·x³))):
  /// the legacy exporter's Mul(0.5, Mul(x, …)) with x³ = Mul(x, Mul(x, x)), dynamo's
  /// Mul(x, Mul(0.5, …)) with Pow(x, 3); both fuse into GELU(tanh). The same graph with a wrong
  /// cubic coefficient (0.05) is a different function and stays as it is.
  func testFuseGELUTanhPatterns() throws {
    var b = GraphBuilder(seed: 37)
    let scalar = { (b: inout GraphBuilder, v: Float) in b.floats([v], shape: []) }
    func onePlusTanh(_ b: inout GraphBuilder, _ v: ValueName, pow: Bool, coefficient: Float = 0.044715) -> ValueName {
      let cube = pow ? b.add(.activation(Activation(Pow(exponent: 3))), [v])
                     : b.add(.elementwise(.mul), [v, b.add(.elementwise(.mul), [v, v])])
      let inner = b.add(.elementwise(.add), [v, b.add(.elementwise(.mul), [scalar(&b, coefficient), cube])])
      let scaled = b.add(.elementwise(.mul), [scalar(&b, Float((2 / Double.pi).squareRoot())), inner])
      return b.add(.elementwise(.add), [scalar(&b, 1), b.add(.activation(Activation(Tanh())), [scaled])])
    }
    let x = b.conv(b.input, in: 2, out: 4), y = b.conv(b.input, in: 2, out: 4), z = b.conv(b.input, in: 2, out: 4)
    let legacy = b.add(.elementwise(.mul), [scalar(&b, 0.5), b.add(.elementwise(.mul), [x, onePlusTanh(&b, x, pow: false)])], name: "legacy")
    let dynamo = b.add(.elementwise(.mul), [y, b.add(.elementwise(.mul), [scalar(&b, 0.5), onePlusTanh(&b, y, pow: true)])], name: "dynamo")
    let wrong = b.add(.elementwise(.mul), [z, b.add(.elementwise(.mul), [scalar(&b, 0.5), onePlusTanh(&b, z, pow: true, coefficient: 0.05)])], name: "wrong")
    let c = PassCase(name: "gelu tanh", graph: b.graph([1, 2, 5, 5], outputs: [legacy, dynamo, wrong]), inputShape: [1, 2, 5, 5])
    let (_, after) = try checkPass(FuseActivationPatterns(), c)
    let op = { (name: String) in after.nodes.first { $0.name == name }!.op }
    XCTAssertEqual(op("legacy"), .activation(Activation(GELU(tanhApproximation: true))))
    XCTAssertEqual(op("dynamo"), .activation(Activation(GELU(tanhApproximation: true))))
    XCTAssertEqual(op("wrong"), .elementwise(.mul))
    XCTAssertEqual(after.nodes.filter { $0.op == .activation(Activation(Tanh())) }.count, 1, "only the wrong pattern's Tanh is left")
    XCTAssertEqual(after.nodes.filter { $0.op == .activation(Activation(Pow(exponent: 3))) }.count, 1)
  }

  /// MatMul by a constant [K, M] on the last axis of an NHWC activation becomes a 1×1 conv
  /// between transposes; a following bias Add is folded in only when nothing else reads the
  /// MatMul's output. A rank-2 MatMul is left to LowerDense.
  func testLowerLastAxisMatMul() throws {
    var b = GraphBuilder(seed: 41)
    let nhwc = b.add(.transpose(perm: [0, 2, 3, 1]), [b.conv(b.input, in: 3, out: 4)])
    let withBias = b.add(.elementwise(.add), [b.add(.matMul, [nhwc, b.weights([4, 6])], name: "fc1"), b.weights([6])], name: "bias1")
    let shared = b.add(.matMul, [nhwc, b.weights([4, 5])], name: "fc2")
    let biased = b.add(.elementwise(.add), [b.weights([5]), shared], name: "bias2")
    let c = PassCase(name: "last-axis matmul", graph: b.graph([1, 3, 4, 4], outputs: [withBias, shared, biased]), inputShape: [1, 3, 4, 4])
    let (_, after) = try checkPass(LowerLastAxisMatMul(), c)
    let fc1 = after.nodes.first { $0.name == "fc1" }!, fc2 = after.nodes.first { $0.name == "fc2" }!
    XCTAssertEqual(fc1.op, .conv(Conv2D(window: Window2D(kernelH: 1, kernelW: 1), group: 1, autoPad: .explicit)))
    XCTAssertEqual(after.constants[fc1.inputs[1]]?.shape, [6, 4, 1, 1])
    XCTAssertEqual(fc1.inputs.count, 3, "bias1 folded into fc1")
    XCTAssertFalse(after.nodes.contains { $0.name == "bias1" })
    XCTAssertEqual(fc2.inputs.count, 2, "fc2's output is read twice: its bias Add stays")
    XCTAssertTrue(after.nodes.contains { $0.name == "bias2" })
    XCTAssertFalse(after.nodes.contains { $0.op == .matMul })
  }

  /// Gather(Reshape(x, [-1]), indices = 0..<n shaped [1, C, 1, 1]) (dynamo's as_strided) is a
  /// reshape of x; indices in another order stay a Gather (and are refused as run-time data).
  func testLowerGatherAsReshape() throws {
    var b = GraphBuilder(seed: 43)
    let x = b.add(.globalAvgPool, [b.conv(b.input, in: 3, out: 4)])
    let flat = b.add(.reshape(allowZero: false), [x, b.ints([-1])], name: "flat")
    let strided = b.add(.gather(axis: 0), [flat, b.ints([0, 1, 2, 3], shape: [1, 4, 1, 1])], name: "as_strided")
    let c = PassCase(name: "gather as reshape", graph: b.graph([1, 3, 4, 4], outputs: [strided]), inputShape: [1, 3, 4, 4])
    let (_, after) = try checkPass(LowerGatherAsReshape(), c)
    let node = after.nodes.first { $0.name == "as_strided" }!
    XCTAssertEqual(node.op, .reshape(allowZero: false))
    XCTAssertEqual(node.inputs[0], x, "reads the value before the flattening reshape")
    XCTAssertFalse(after.nodes.contains { $0.name == "flat" })

    var p = GraphBuilder(seed: 43)
    let y = p.add(.globalAvgPool, [p.conv(p.input, in: 3, out: 4)])
    let permuted = p.add(.gather(axis: 0), [p.add(.reshape(allowZero: false), [y, p.ints([-1])]), p.ints([1, 0, 2, 3], shape: [1, 4, 1, 1])])
    try checkPass(LowerGatherAsReshape(), PassCase(name: "permuting gather", graph: p.graph([1, 3, 4, 4], outputs: [permuted]), inputShape: [1, 3, 4, 4]), changes: false)
    XCTAssertTrue(message { try Canonicalizer.canonicalize(p.graph([1, 3, 4, 4], outputs: [permuted]), inputShape: [1, 3, 4, 4]) }
      .contains("needs constant inputs"))
  }

  /// GlobalMaxPool and ReduceMax over the plane (kept or dropped axes) canonicalize to max
  /// pools over the whole plane and compute what the interpreter computes on the original ops;
  /// ReduceMax over channels stays a ReduceMax and computes the same.
  func testGlobalMaxPoolAndReduceMax() throws {
    var b = GraphBuilder(seed: 47)
    let x = b.conv(b.input, in: 3, out: 4)
    let global = b.add(.globalMaxPool, [x], name: "gmp")
    let kept = b.add(.reduceMax(axes: [2, 3], keepDims: true, noopWithEmptyAxes: false), [x], name: "max_keep")
    let dropped = b.add(.reduceMax(axes: nil, keepDims: false, noopWithEmptyAxes: false), [x, b.ints([-2, -1])], name: "max_drop")
    let graph = b.graph([1, 3, 5, 6], outputs: [global, kept, dropped])
    var bound = graph
    try Canonicalizer.bindInput(&bound, [1, 3, 5, 6])
    var rng = SeededRandom(seed: 5)
    let input = rng.tensor([1, 3, 5, 6])
    let expected = try ReferenceInterpreter(graph: bound).outputs(input)
    let canonical = try Canonicalizer.canonicalize(graph, inputShape: [1, 3, 5, 6])
    XCTAssertEqual(canonical.nodes.filter { if case .maxPool(let p) = $0.op { return p.window.kernelH == 5 && p.window.kernelW == 6 } else { return false } }.count, 3)
    let actual = try ForwardPlan(graph: canonical).run(input)
    for (i, name) in canonical.outputs.enumerated() {
      XCTAssertEqual(actual[name]!.shape, expected[i].shape)
      XCTAssertLessThan(relativeError(actual[name]!.data, expected[i].data), 1e-6, name)
    }
    // Over the channels it stays a ReduceMax node (a registered op) and computes the same.
    var c = GraphBuilder(seed: 47)
    let channels = c.add(.reduceMax(axes: [1], keepDims: true, noopWithEmptyAxes: false), [c.conv(c.input, in: 3, out: 4)])
    var channelGraph = c.graph([1, 3, 5, 6], outputs: [channels])
    let channelCanonical = try Canonicalizer.canonicalize(channelGraph, inputShape: [1, 3, 5, 6])
    XCTAssertEqual(channelCanonical.nodes.filter { $0.op.name == "ReduceMax" }.count, 1)
    try Canonicalizer.bindInput(&channelGraph, [1, 3, 5, 6])
    let channelExpected = try ReferenceInterpreter(graph: channelGraph).outputs(input)[0]
    let channelActual = try ForwardPlan(graph: channelCanonical).run(input)[channelCanonical.outputs[0]]!
    XCTAssertEqual(channelActual.shape, [1, 1, 5, 6])
    XCTAssertLessThan(relativeError(channelActual.data, channelExpected.data), 1e-6)
  }

  /// Inverse transposes around activations cancel; directly adjacent ones, a chain with a
  /// second reader and a non-inverse permutation stay.
  func testCancelTransposes() throws {
    var b = GraphBuilder(seed: 53)
    let x = b.conv(b.input, in: 3, out: 4)
    let nhwc = b.add(.transpose(perm: [0, 2, 3, 1]), [x], name: "to_nhwc")
    let gelu = b.add(.activation(Activation(GELU(tanhApproximation: false))), [nhwc], name: "gelu")
    let act = b.add(.sigmoid, [gelu], name: "sigmoid")
    let back = b.add(.transpose(perm: [0, 3, 1, 2]), [act], name: "to_nchw")
    let direct = b.add(.transpose(perm: [0, 3, 1, 2]), [b.add(.transpose(perm: [0, 2, 3, 1]), [back], name: "t1")], name: "t2")
    let y = b.conv(direct, in: 4, out: 2, name: "after")
    // Stays: the transposed value has a second reader.
    let shared = b.add(.transpose(perm: [0, 2, 3, 1]), [y], name: "shared")
    let kept = b.add(.transpose(perm: [0, 3, 1, 2]), [b.add(.relu, [shared])], name: "kept_back")
    // Stays: not the inverse permutation.
    let other = b.add(.transpose(perm: [0, 1, 3, 2]), [b.add(.transpose(perm: [0, 2, 3, 1]), [y], name: "nhwc2")], name: "not_inverse")
    let c = PassCase(name: "transposes", graph: b.graph([1, 3, 4, 5], outputs: [kept, shared, other]), inputShape: [1, 3, 4, 5])
    let (_, after) = try checkPass(CancelTransposes(), c)
    let names = Set(after.nodes.map(\.name))
    XCTAssertTrue(names.isDisjoint(with: ["to_nhwc", "to_nchw"]))
    XCTAssertTrue(names.isSuperset(of: ["gelu", "sigmoid", "t1", "t2", "shared", "kept_back", "nhwc2", "not_inverse"]))
    XCTAssertEqual(after.nodes.first { $0.name == "gelu" }!.inputs, [x])
    XCTAssertEqual(after.shapes[after.nodes.first { $0.name == "sigmoid" }!.output], [1, 4, 4, 5])
  }

  /// An LRN node carrying torch's decomposition inputs loses them when they are the ONNX window
  /// (the back reshape target written with a 0 and a −1); a target or pads that place the
  /// window elsewhere are refused, naming the node.
  func testCheckDecomposedLRN() throws {
    func graph(target: [Int], pads: [Int]) -> PassCase {
      var b = GraphBuilder(seed: 23)
      let x = b.input
      let a = b.add(.relu, [x], name: "relu")
      let y = b.add(.lrn(LRNParameters(size: 3, alpha: 0.5, beta: 0.75, bias: 1)),
                    [a, b.ints(target), b.ints(pads), b.ints([0, 4, -1, 2])], name: "lrn")
      return PassCase(name: "decomposed-lrn", graph: b.graph([1, 4, 3, 2], outputs: [y]), inputShape: [1, 4, 3, 2])
    }
    let (_, after) = try checkPass(CheckDecomposedLRN(), graph(target: [0, 1, 4, 3, -1], pads: [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]))
    XCTAssertEqual(after.nodes.first { $0.name == "lrn" }!.inputs, [after.nodes.first { $0.name == "relu" }!.output])
    for (target, pads, reason) in [([1, 1, 3, 4, 2], [0, 0, 1, 0, 0, 0, 0, 1, 0, 0], "not [1, 1, 4, 3, 2]"),
                                   ([1, 1, 4, 3, 2], [0, 0, 2, 0, 0, 0, 0, 0, 0, 0], "not [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]")] {
      var g = graph(target: target, pads: pads).graph
      try Canonicalizer.bindInput(&g, [1, 4, 3, 2])
      _ = try InferShapes().run(on: &g)
      XCTAssertThrowsError(try CheckDecomposedLRN().run(on: &g)) { error in
        XCTAssertTrue("\(error)".contains("node 'lrn'") && "\(error)".contains(reason), "\(error)")
      }
    }
    var plain = graph(target: [], pads: []).graph
    plain.nodes = plain.nodes.map { var n = $0; if n.name == "lrn" { n.inputs = [n.inputs[0]] }; return n }
    try Canonicalizer.bindInput(&plain, [1, 4, 3, 2])
    _ = try InferShapes().run(on: &plain)
    XCTAssertFalse(try CheckDecomposedLRN().run(on: &plain))
  }

  func testEveryCanonicalizerPassIsTestedHere() {
    let tested: Set<String> = [RemoveIdentities().name, StripTrailingSoftmax().name, LowerBatchNorm().name,
                               LowerConstantScaleShift().name, LowerDense().name, MergeAffines().name,
                               FoldAffineIntoLinear().name, LowerReduceMean().name, FuseActivationPatterns().name,
                               LowerLastAxisMatMul().name, LowerGatherAsReshape().name, CancelTransposes().name,
                               CheckDecomposedLRN().name, FoldPadIntoWindow().name, HoistInputTranspose().name]  // KerasPassTests
    for pass in Canonicalizer.passes {
      XCTAssertTrue(tested.contains(pass.name), "pass \(pass.name) has no test in PassTests")
    }
  }

  // MARK: - Whole pipeline + ForwardPlan

  func testCanonicalizeAndForwardPlanMatchTheInterpreter() throws {
    for c in Self.canonicalizable {
      var rng = SeededRandom(seed: 7)
      let input = rng.tensor(c.inputShape)
      var bound = c.graph
      try Canonicalizer.bindInput(&bound, c.inputShape)
      let reference = try ReferenceInterpreter(graph: bound).run(input)
      let canonical = try Canonicalizer.canonicalize(c.graph, inputShape: c.inputShape)
      assertWellFormed(canonical, c.name)
      for node in canonical.nodes {
        switch node.op {
        case .batchNorm, .gemm, .matMul, .identity, .dropout, .shape, .gather, .slice, .cast, .constantOfShape:
          XCTFail("\(c.name): \(node.name) is still \(node.op.name)")
        default: break
        }
      }
      // The canonical graph through the interpreter, and through the runtime.
      let viaInterpreter = try ReferenceInterpreter(graph: canonical).outputs(input)
      let plan = try ForwardPlan(graph: canonical)
      let results = try plan.run(input)
      for (i, name) in canonical.outputs.enumerated() {
        let expectedName = i == 0 ? (c.logits ?? c.graph.outputs[0]) : c.graph.outputs[i]
        let expected = try XCTUnwrap(reference[expectedName], "\(c.name): \(expectedName)")
        let actual = try XCTUnwrap(results[name], "\(c.name): \(name)")
        XCTAssertEqual(actual.shape, expected.shape, c.name)
        XCTAssertLessThan(relativeError(viaInterpreter[i].data, expected.floats), 1e-5, "\(c.name): canonical graph differs")
        let error = relativeError(actual.data, expected.floats)
        XCTAssertLessThan(error, 1e-5, "\(c.name): ForwardPlan output \(i) differs by \(error)")
      }
    }
  }

  // MARK: - InferShapes: constant folding

  func testFoldsTf2onnxShapeChains() throws {
    let c = Self.tf2onnxFlatten()
    var g = c.graph
    try Canonicalizer.bindInput(&g, c.inputShape)
    let unfolded = g
    _ = try InferShapes().run(on: &g)
    for node in g.nodes {
      switch node.op {
      case .shape, .gather, .cast, .slice, .constantOfShape: XCTFail("\(node.name) (\(node.op.name)) was not folded")
      case .unsqueeze, .concat: XCTFail("\(node.name) on shape values was not folded")
      default: break
      }
    }
    XCTAssertEqual(g.nodes.count, unfolded.nodes.count - 10)
    let reshape = try XCTUnwrap(g.nodes.first { $0.name == "flatten/Reshape" })
    XCTAssertEqual(g.constant(reshape, 1), Constant(shape: [2], ints: [2, -1]))
    XCTAssertEqual(g.shapes[reshape.output], [2, 80])
    let reshape2 = try XCTUnwrap(g.nodes.first { $0.name == "reshape/Reshape" })
    XCTAssertEqual(g.constant(reshape2, 1), Constant(shape: [2], ints: [2, 6]))
    XCTAssertEqual(g.constants["fill/ConstantOfShape:0"], Constant(shape: [2, 6], floats: [Float](repeating: 0.25, count: 12)))
    // Same values, folded or computed at run time by the interpreter.
    var rng = SeededRandom(seed: 3)
    let input = rng.tensor(c.inputShape)
    let expected = try ReferenceInterpreter(graph: unfolded).outputs(input)
    let actual = try ReferenceInterpreter(graph: g).outputs(input)
    XCTAssertEqual(actual, expected)
    // A second run has nothing left to do.
    XCTAssertFalse(try InferShapes().run(on: &g))
  }

  /// Slice (folded on constants) with negative starts, ends and steps and INT64 sentinels.
  func testFoldsSlices() throws {
    let big = Int.max, small = Int.min
    let data = Array(0..<10)
    // (starts, ends, axes, steps, expected)
    let cases: [([Int], [Int], [Int]?, [Int]?, [Int])] = [
      ([-3], [big], nil, nil, [7, 8, 9]),
      ([-1], [small], [0], [-1], Array((0..<10).reversed())),
      ([8], [1], nil, [-3], [8, 5, 2]),
      ([big], [-100], [-1], [-2], [9, 7, 5, 3, 1]),
      ([2], [-2], nil, [3], [2, 5]),
      ([5], [2], nil, nil, []),
      ([-20], [3], nil, nil, [0, 1, 2]),
      ([1], [big], nil, [big], [1]),
      ([8], [small], nil, [small], [8]),
    ]
    for (i, (starts, ends, axes, steps, expected)) in cases.enumerated() {
      var b = GraphBuilder(seed: 30)
      var inputs = [b.ints(data), b.ints(starts), b.ints(ends)]
      if axes != nil || steps != nil { inputs.append(axes.map { b.ints($0) } ?? "") }
      if let steps { inputs.append(b.ints(steps)) }
      let s = b.add(.slice, inputs, name: "slice\(i)")
      let r = b.add(.relu, [b.input])
      var g = b.graph([1, 2], outputs: [s, r])
      try Canonicalizer.bindInput(&g, [1, 2])
      let unfolded = g
      _ = try InferShapes().run(on: &g)
      XCTAssertEqual(g.constants[s], Constant(shape: [expected.count], ints: expected), "case \(i): \(starts) \(ends) \(steps ?? [])")
      let viaInterpreter = try ReferenceInterpreter(graph: unfolded).run(Tensor(zeros: [1, 2]))[s]
      XCTAssertEqual(viaInterpreter?.ints, expected, "interpreter, case \(i)")
    }
    // 2-D float data, two axes (one negative), Shape → Slice with a negative start.
    var b = GraphBuilder(seed: 31)
    let matrix = b.floats((0..<12).map(Float.init), shape: [3, 4])
    let s = b.add(.slice, [matrix, b.ints([-1, 0]), b.ints([small, 2]), b.ints([-1, 0]), b.ints([-1, 1])], name: "slice2d")
    let hw = b.add(.slice, [b.add(.shape(start: 0, end: nil), [b.input]), b.ints([-2]), b.ints([big])], name: "hw")
    let r = b.add(.reshape(allowZero: false), [b.input, b.add(.concat(axis: 0), [b.ints([-1]), hw])])
    var g = b.graph([2, 3, 4, 5], outputs: [s, r])
    try Canonicalizer.bindInput(&g, [2, 3, 4, 5])
    _ = try InferShapes().run(on: &g)
    XCTAssertEqual(g.constants[s], Constant(shape: [2, 4], floats: [3, 2, 1, 0, 7, 6, 5, 4]))
    XCTAssertEqual(g.constants[hw], Constant(shape: [2], ints: [4, 5]))
    XCTAssertEqual(g.shapes[r], [6, 4, 5])
  }

  // MARK: - InferShapes: auto_pad

  func testAutoPadResolution() throws {
    // (auto_pad, input H, W, kernel, stride, dilation, op)
    let cases: [(AutoPad, Int, Int, Int, Int, Int, String)] = [
      (.sameUpper, 7, 8, 3, 2, 1, "conv"), (.sameLower, 7, 8, 3, 2, 1, "conv"),
      (.sameUpper, 6, 9, 4, 2, 1, "conv"), (.sameLower, 6, 9, 4, 2, 1, "conv"),
      (.sameUpper, 5, 5, 3, 1, 2, "conv"), (.sameLower, 9, 4, 2, 3, 1, "conv"),
      (.valid, 7, 6, 3, 2, 1, "conv"), (.sameUpper, 7, 6, 3, 2, 1, "max"), (.sameLower, 8, 5, 2, 2, 1, "max"),
      (.sameUpper, 5, 7, 2, 2, 1, "avg"), (.sameLower, 5, 7, 3, 2, 1, "avg"), (.valid, 8, 8, 2, 2, 1, "avg"),
    ]
    for (i, (autoPad, h, w, k, s, d, kind)) in cases.enumerated() {
      var b = GraphBuilder(seed: 40 + UInt64(i))
      // Explicit pads are present but must be ignored when auto_pad is set.
      let window = Window2D(kernelH: k, kernelW: k, strideH: s, strideW: s, dilationH: d, dilationW: d,
                            padTop: 5, padLeft: 5, padBottom: 5, padRight: 5)
      let y: ValueName
      switch kind {
      case "conv": y = b.add(.conv(Conv2D(window: window, group: 1, autoPad: autoPad)), [b.input, b.weights([2, 2, k, k])], name: "node")
      case "max": y = b.add(.maxPool(Pool2D(window: window, autoPad: autoPad, countIncludePad: false)), [b.input], name: "node")
      default: y = b.add(.avgPool(Pool2D(window: window, autoPad: autoPad, countIncludePad: true)), [b.input], name: "node")
      }
      var g = b.graph([1, 2, h, w], outputs: [y])
      try Canonicalizer.bindInput(&g, [1, 2, h, w])
      let unresolved = g
      _ = try InferShapes().run(on: &g)
      let resolved: Window2D
      switch g.nodes[0].op {
      case .conv(let c): XCTAssertEqual(c.autoPad, .explicit); resolved = c.window
      case .maxPool(let p), .avgPool(let p): XCTAssertEqual(p.autoPad, .explicit); resolved = p.window
      default: XCTFail("op changed"); continue
      }
      // ONNX: SAME_* gives ceil(in / stride) outputs; total = max(0, (out − 1)·s + (k − 1)·d + 1 − in),
      // the odd pixel at the end (SAME_UPPER) or the beginning (SAME_LOWER); VALID pads nothing.
      func onnxPads(_ input: Int) -> (Int, Int) {
        guard autoPad != .valid else { return (0, 0) }
        let out = Int((Double(input) / Double(s)).rounded(.up))
        let total = max(0, (out - 1) * s + (k - 1) * d + 1 - input)
        return autoPad == .sameUpper ? (total / 2, total - total / 2) : ((total + 1) / 2, total / 2)
      }
      let (top, bottom) = onnxPads(h), (left, right) = onnxPads(w)
      XCTAssertEqual([resolved.padTop, resolved.padLeft, resolved.padBottom, resolved.padRight], [top, left, bottom, right],
                     "case \(i): \(autoPad) \(h)x\(w) k\(k) s\(s) d\(d)")
      if autoPad != .valid {
        XCTAssertEqual(g.shapes[y], [1, 2, (h + s - 1) / s, (w + s - 1) / s], "case \(i)")
      }
      var rng = SeededRandom(seed: 5)
      let input = rng.tensor([1, 2, h, w])
      XCTAssertEqual(try ReferenceInterpreter(graph: g).outputs(input), try ReferenceInterpreter(graph: unresolved).outputs(input))
    }
  }
}
