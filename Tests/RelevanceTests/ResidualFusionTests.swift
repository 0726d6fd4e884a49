import XCTest
import TensorKernels
@testable import Relevance

/// The forward plan's residual fusion (`ForwardPlan.residualConvolutions`): `Relu(Add(conv(x),
/// other))` runs as one `conv2d(addend:clamp:)` step, and computes what the reference
/// interpreter computes node by node; it is not applied when the relevance pass needs the
/// conv's output.
final class ResidualFusionTests: XCTestCase {
  /// A bottleneck-like block: a 3×3 conv (im2col or Winograd), a 1×1 conv (pointwise), a
  /// depthwise conv, each added to the block input (the last one before a ReLU6 clip).
  func block() -> Graph {
    var b = GraphBuilder(seed: 23)
    let stem = b.add(.relu, [b.conv(b.input, in: 3, out: 16)])
    let wide = b.add(.relu, [b.add(.elementwise(.add), [b.conv(stem, in: 16, out: 16), stem])])
    let pointwise = b.add(.elementwise(.add), [wide, b.conv(wide, in: 16, out: 16, kernel: 1, pads: [0, 0, 0, 0])])
    let depthwise = b.add(.elementwise(.add), [b.conv(pointwise, in: 16, out: 16, group: 16), pointwise])
    let out = b.add(.clip(min: 0, max: 6), [depthwise])
    return b.graph([1, 3, 12, 12], outputs: [out])
  }

  func testFusedResidualsMatchTheReferenceInterpreter() throws {
    var bound = block()
    try Canonicalizer.bindInput(&bound, [1, 3, 12, 12])
    var rng = SeededRandom(seed: 9)
    let input = rng.tensor([1, 3, 12, 12])
    let expected = try ReferenceInterpreter(graph: bound).outputs(input)[0]
    let canonical = try Canonicalizer.canonicalize(block(), inputShape: [1, 3, 12, 12])
    let fused = try ForwardPlan(graph: canonical)
    let residuals = ForwardPlan.residualConvolutions(canonical, keep: [], consumers: canonical.consumers(),
                                                     producers: canonical.producers())
    XCTAssertEqual(residuals.count, 3, "every Add of a conv output and another value fuses")
    XCTAssertEqual(residuals.values.filter { $0.activation != nil }.count, 2, "the ReLU and the ReLU6 after Adds fuse")
    let actual = try fused.run(input)[canonical.outputs[0]]!
    XCTAssertEqual(actual.shape, expected.shape)
    XCTAssertLessThan(relativeError(actual.data, expected.data), 1e-5)
    // Keeping the convs' outputs (as the relevance pass does for its residual split) turns it off.
    let convOutputs = Set(canonical.nodes.filter { if case .conv = $0.op { return true } else { return false } }.map(\.output))
    XCTAssertTrue(ForwardPlan.residualConvolutions(canonical, keep: convOutputs, consumers: canonical.consumers(),
                                                   producers: canonical.producers()).isEmpty)
    let unfused = try ForwardPlan(graph: canonical, keep: convOutputs).run(input)[canonical.outputs[0]]!
    XCTAssertLessThan(relativeError(unfused.data, expected.data), 1e-5)
    XCTAssertLessThan(fused.steps.count, try ForwardPlan(graph: canonical, keep: convOutputs).steps.count)
  }
}
