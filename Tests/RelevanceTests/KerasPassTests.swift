import Foundation
import XCTest
@testable import Relevance

/// The passes added for tf2onnx's Keras exports, each on hand-built graphs with `PassTests`'
/// harness: the function is unchanged (ReferenceInterpreter before and after) and the graph
/// changes as the pass promises, or not at all where it must not.
extension PassTests {
  /// Pads in front of a conv, a depthwise conv and a max pool of a ReLU output (folded), and
  /// Pads that must stay: a non-zero value, a pad of the channel axis, a max pool of a signed
  /// value, a Pad read by a conv and something else.
  static func zeroPads() -> PassCase {
    var b = GraphBuilder(seed: 31)
    var x = b.add(.pad, [b.input, b.ints([0, 0, 0, 0, 0, 0, 1, 1])], name: "pad_stem")
    x = b.conv(x, in: 3, out: 4, stride: 2, pads: [0, 0, 0, 0], name: "stem")
    x = b.add(.relu, [x])
    x = b.add(.pad, [x, b.ints([0, 0, 1, 1, 0, 0, 1, 1]), b.floats([0], shape: [])], name: "pad_dw")
    x = b.conv(x, in: 4, out: 8, group: 4, stride: 2, pads: [0, 0, 0, 0], name: "depthwise")
    x = b.add(.relu, [x])
    x = b.add(.pad, [x, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], name: "pad_pool")
    let pooled = b.add(.maxPool(Pool2D(window: Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2), autoPad: .explicit, countIncludePad: false)),
                       [x], name: "pool")
    return PassCase(name: "zero-pads", graph: b.graph([2, 3, 15, 15], outputs: [pooled]), inputShape: [2, 3, 15, 15])
  }

  static func padsThatStay() -> PassCase {
    var b = GraphBuilder(seed: 32)
    let one = b.add(.pad, [b.input, b.ints([0, 0, 1, 1, 0, 0, 1, 1]), b.floats([1], shape: [])], name: "pad_one")
    let a = b.conv(one, in: 3, out: 4, pads: [0, 0, 0, 0], name: "conv_after_pad_one")
    let channels = b.add(.pad, [b.input, b.ints([0, 1, 0, 0, 0, 0, 0, 0])], name: "pad_channels")
    let c = b.conv(channels, in: 4, out: 4, pads: [1, 1, 1, 1], name: "conv_after_pad_channels")
    let signed = b.add(.pad, [a, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], name: "pad_signed")
    let pooled = b.add(.maxPool(Pool2D(window: Window2D(kernelH: 3, kernelW: 3), autoPad: .explicit, countIncludePad: false)),
                       [signed], name: "pool_signed")
    let shared = b.add(.pad, [c, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], name: "pad_shared")
    let d = b.conv(shared, in: 4, out: 4, pads: [0, 0, 0, 0], name: "conv_after_shared")
    let e = b.add(.relu, [shared])
    return PassCase(name: "pads-that-stay", graph: b.graph([1, 3, 6, 6], outputs: [pooled, d, e]), inputShape: [1, 3, 6, 6])
  }

  func testFoldPadIntoWindow() throws {
    let (before, after) = try checkPass(FoldPadIntoWindow(), Self.zeroPads())
    XCTAssertEqual(count(before) { $0 == .pad }, 3)
    XCTAssertEqual(count(after) { $0 == .pad }, 0)
    func pads(_ name: String) -> [Int]? {
      switch after.nodes.first(where: { $0.name == name })?.op {
      case .conv(let c)?: return [c.window.padTop, c.window.padLeft, c.window.padBottom, c.window.padRight]
      case .maxPool(let p)?: return [p.window.padTop, p.window.padLeft, p.window.padBottom, p.window.padRight]
      default: return nil
      }
    }
    XCTAssertEqual(pads("stem"), [0, 0, 1, 1])
    XCTAssertEqual(pads("depthwise"), [1, 1, 1, 1])
    XCTAssertEqual(pads("pool"), [1, 1, 1, 1])
    XCTAssertEqual(after.nodes.first { $0.name == "stem" }?.inputs[0], after.input)
  }

  func testFoldPadIntoWindowLeavesOtherPads() throws {
    let (_, after) = try checkPass(FoldPadIntoWindow(), Self.padsThatStay(), changes: false)
    XCTAssertEqual(count(after) { $0 == .pad }, 4)
  }

  func testHoistInputTranspose() throws {
    let c = Self.inputNormalizationNHWC()
    let (_, after) = try checkPass(HoistInputTranspose(), c)
    let transpose = try XCTUnwrap(after.nodes.first { if case .transpose = $0.op { return true } else { return false } })
    XCTAssertEqual(transpose.inputs, [after.input], "the transpose reads the NHWC input")
    XCTAssertEqual(after.nodes.first, transpose)
    for node in after.nodes where node.name == "scale" || node.name == "offset" {
      XCTAssertEqual(after.constant(node, 1)?.shape, [1, 3, 1, 1], "\(node.name): the [3] constant on axis 1 of NCHW")
    }
    let shifted = try checkPass(HoistInputTranspose(), Self.inputNormalization(), changes: false)
    XCTAssertEqual(shifted.after.nodes, shifted.before.nodes)
  }

  /// A transpose after a normalization whose value is also read elsewhere, or that is not on
  /// the input's chain, stays where it is.
  func testHoistInputTransposeOnlyOnTheInputChain() throws {
    var b = GraphBuilder(seed: 33)
    let scaled = b.add(.elementwise(.mul), [b.input, b.weights([3], 0.5, 1)], name: "scale")
    let t = b.add(.transpose(perm: [0, 3, 1, 2]), [scaled], name: "to_nchw")
    let y = b.conv(t, in: 3, out: 2, name: "conv1")
    let r = b.add(.relu, [y])
    let m = b.add(.elementwise(.mul), [r, b.weights([1, 2, 1, 1])], name: "inner_scale")
    let back = b.add(.transpose(perm: [0, 2, 3, 1]), [m], name: "to_nhwc")
    let c = PassCase(name: "shared", graph: b.graph([1, 4, 4, 3], outputs: [back, scaled]), inputShape: [1, 4, 4, 3])
    try checkPass(HoistInputTranspose(), c, changes: false)
  }

  /// Keras' hard_swish and hard_sigmoid as tf2onnx writes them, on NHWC values between
  /// transposes, with a squeeze-and-excitation ReduceMean over axes (1, 2) and a ZeroPadding2D
  /// on the NHWC side of a Transpose to NCHW.
  static func kerasMobileNetV3() -> PassCase {
    var b = GraphBuilder(seed: 34)
    let three = b.floats([3], shape: []), six = b.floats([1 / 6], shape: [])
    func hardSigmoid(_ x: ValueName, _ tag: String, constantFirst: Bool = false) -> ValueName {
      let shifted = b.add(.elementwise(.add), constantFirst ? [three, x] : [x, three], name: "\(tag)_add")
      let clipped = b.add(.clip(min: 0, max: 6), [shifted], name: "\(tag)_relu6")
      return b.add(.elementwise(.mul), constantFirst ? [six, clipped] : [clipped, six], name: "\(tag)_div6")
    }
    var x = b.conv(b.input, in: 3, out: 4, name: "stem")
    x = b.add(.transpose(perm: [0, 2, 3, 1]), [x], name: "to_nhwc")
    x = b.add(.elementwise(.mul), [x, hardSigmoid(x, "hs1")], name: "hard_swish")
    let pooled = b.add(.reduceMean(axes: [1, 2], keepDims: true, noopWithEmptyAxes: false), [x], name: "se_pool")
    let gate = hardSigmoid(pooled, "gate", constantFirst: true)
    x = b.add(.elementwise(.mul), [x, gate], name: "se_mul")
    x = b.add(.pad, [x, b.ints([0, 1, 1, 0, 0, 1, 1, 0])], name: "pad")
    x = b.add(.transpose(perm: [0, 3, 1, 2]), [x], name: "to_nchw")
    x = b.conv(x, in: 4, out: 4, group: 4, stride: 2, pads: [0, 0, 0, 0], name: "depthwise")
    let head = b.add(.reduceMean(axes: [2, 3], keepDims: false, noopWithEmptyAxes: false), [x], name: "head_pool")
    return PassCase(name: "keras-mobilenet-v3", graph: b.graph([2, 3, 6, 6], outputs: [head]), inputShape: [2, 3, 6, 6])
  }

  func testFuseKerasHardSigmoidAndHardSwish() throws {
    let (_, after) = try checkPass(FuseActivationPatterns(), Self.kerasMobileNetV3())
    func names(_ g: Graph) -> [String] { g.nodes.compactMap { if case .activation(let a) = $0.op { return "\($0.name):\(a)" } else { return nil } } }
    XCTAssertEqual(names(after), ["hard_swish:HardSwish", "gate_div6:HardSigmoid(\(Float(1) / 6), 0.5)"])
    XCTAssertEqual(after.nodes.first { $0.name == "hard_swish" }?.inputs, [after.nodes.first { $0.name == "to_nhwc" }!.output])
  }

  func testLowerReduceMeanOverTheNHWCPlane() throws {
    let (_, after) = try checkPass(LowerReduceMean(), Self.kerasMobileNetV3())
    XCTAssertEqual(count(after) { $0 == .globalAvgPool }, 2)
    XCTAssertEqual(count(after) { if case .reduceMean = $0 { return true } else { return false } }, 0)
    let se = try XCTUnwrap(after.nodes.first { $0.name == "se_pool" })
    XCTAssertEqual(after.shapes[se.inputs[0]], [2, 4, 6, 6], "pooled in NCHW")
    XCTAssertEqual(after.nodes.first { $0.name == "se_pool::to_nhwc" }?.op, .transpose(perm: [0, 2, 3, 1]))
  }

  func testFoldPadOnTheNHWCSideOfATranspose() throws {
    let (_, after) = try checkPass(FoldPadIntoWindow(), Self.kerasMobileNetV3())
    XCTAssertEqual(count(after) { $0 == .pad }, 0)
    guard case .conv(let conv)? = after.nodes.first(where: { $0.name == "depthwise" })?.op else { return XCTFail() }
    XCTAssertEqual([conv.window.padTop, conv.window.padLeft, conv.window.padBottom, conv.window.padRight], [1, 1, 1, 1])
  }
}
