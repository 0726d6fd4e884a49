import XCTest
import TensorKernels

/// `conv2d(..., clamp:)` equals the clamped direct convolution on every path (im2col, 1×1
/// without im2col, Winograd, depthwise), with bounds that both bite (ReLU6-like `[0, 6]` scaled
/// to the data, and a window around zero).
final class ClampTests: XCTestCase {
  func clamped(_ r: Reference, _ lower: Double, _ upper: Double) -> Reference {
    Reference(shape: r.shape, values: r.values.map { min(max($0, lower), upper) }, magnitude: r.magnitude)
  }

  func testFusedClampMatchesClampedDirectConvolution() {
    var rng = SplitMix64(seed: 31)
    let cases = ConvolutionTests.cases + WinogradTests.cases + DepthwiseConvTests.cases
    var clippedBoth = 0
    for c in cases {
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1] / c.group, c.window.kernelH, c.window.kernelW])
      let bias = c.bias ? rng.floats(c.filters) : nil
      let reference = referenceConv(x, w, bias: bias, window: c.window, group: c.group)
      let spread = reference.values.map(abs).max() ?? 1
      for (lower, upper) in [(0, 0.5 * spread), (-0.3 * spread, 0.2 * spread)] {
        let y = Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group,
                               clamp: Clamp(lower: Float(lower), upper: Float(upper)))
        let expected = clamped(reference, lower, upper)
        assertClose(y, expected, "\(c.name), clamp [\(lower), \(upper)]")
        if expected.values.contains(lower) && expected.values.contains(upper) { clippedBoth += 1 }
      }
    }
    XCTAssertGreaterThan(clippedBoth, cases.count, "the bounds should clip on both sides in most cases")
  }

  /// `conv2d(..., clamp:, addend:)` (a residual connection run inside the convolution) equals
  /// clamp(direct convolution + addend) on every path, with and without the clamp.
  func testResidualAddendMatchesDirectConvolutionPlusAddend() {
    var rng = SplitMix64(seed: 37)
    for c in ConvolutionTests.cases + WinogradTests.cases + DepthwiseConvTests.cases {
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1] / c.group, c.window.kernelH, c.window.kernelW])
      let bias = c.bias ? rng.floats(c.filters) : nil
      let reference = referenceConv(x, w, bias: bias, window: c.window, group: c.group)
      let addend = rng.tensor(reference.shape)
      let sum = Reference(shape: reference.shape, values: zip(reference.values, addend.data).map { $0 + Double($1) },
                          magnitude: zip(reference.magnitude, addend.data).map { $0 + abs(Double($1)) })
      let spread = sum.values.map(abs).max() ?? 1
      assertClose(Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group, addend: addend), sum,
                  "\(c.name) + addend")
      let clamp = Clamp(lower: 0, upper: Float(0.5 * spread))
      assertClose(Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group, clamp: clamp, addend: addend),
                  clamped(sum, 0, Double(clamp.upper)), "\(c.name) + addend, clamped")
    }
  }

  func testClampOfScalarsAndVectors() {
    let relu6 = Clamp(lower: 0, upper: 6)
    XCTAssertEqual([-1, 0, 3, 6, 7].map { relu6(Float($0)) }, [0, 0, 3, 6, 6])
    XCTAssertEqual(Clamp.relu(Float.nan), 0, "NaN becomes the lower bound, as in Kernels.relu")
    let crossed = Clamp(lower: 2, upper: 1)
    XCTAssertEqual([0, 1.5, 3].map { crossed(Float($0)) }, [1, 1, 1], "crossed bounds give the upper one, as Kernels.clip does")
    XCTAssertEqual(Kernels.clip(Tensor(shape: [3], data: [0, 1.5, 3]), min: 2, max: 1).data, [1, 1, 1])
    XCTAssertEqual(relu6(SIMD8<Float>(-1, 0, 3, 6, 7, .nan, -.infinity, .infinity)), SIMD8<Float>(0, 0, 3, 6, 6, 0, 0, 6))
  }
}
