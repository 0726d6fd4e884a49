import XCTest
@testable import TensorKernels

final class WinogradTests: XCTestCase {
  static let cases: [ConvCase] = [
    ConvCase(name: "square, pad 1", input: [1, 16, 23, 23], filters: 16, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ConvCase(name: "odd sizes, asymmetric pads, groups, batch", input: [2, 32, 25, 22], filters: 32, group: 2,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 0, padLeft: 1, padBottom: 2, padRight: 0)),
    ConvCase(name: "wide rows, unpadded", input: [1, 16, 30, 41], filters: 24, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3), bias: false),
    ConvCase(name: "wide rows, large pads", input: [1, 17, 24, 36], filters: 20, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 2, padLeft: 2, padBottom: 1, padRight: 2)),
    // 16 tiles per row, the last one half outside the odd output width.
    ConvCase(name: "odd width, whole vector blocks", input: [1, 16, 18, 33], filters: 16, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3)),
  ]

  func shape(_ c: ConvCase) -> Kernels.ConvShape {
    Kernels.ConvShape(input: c.input, weight: [c.filters, c.input[1] / c.group, 3, 3], window: c.window, group: c.group)
  }

  func relu(_ r: Reference) -> Reference {
    Reference(shape: r.shape, values: r.values.map { max($0, 0) }, magnitude: r.magnitude)
  }

  func testConv2dTakesWinogradPathAndMatchesDirectConvolution() {
    var rng = SplitMix64(seed: 40)
    for c in Self.cases {
      XCTAssertTrue(Kernels.usesWinograd(shape(c), c.window), "\(c.name) should take the Winograd path")
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1] / c.group, 3, 3])
      let bias = c.bias ? rng.floats(c.filters) : nil
      let reference = referenceConv(x, w, bias: bias, window: c.window, group: c.group)
      assertClose(Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group), reference, c.name)
      assertClose(Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group, clamp: .relu),
                  relu(reference), "\(c.name), fused ReLU")
    }
  }

  func testWinogradInSeveralSlabs() {
    var rng = SplitMix64(seed: 41)
    for c in Self.cases {
      let s = shape(c)
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1] / c.group, 3, 3])
      let bias = c.bias ? rng.floats(c.filters) : nil
      let tilesW = (s.oW + 1) / 2
      for slabRows in [1, 2, 5] {
        let count = s.n * s.m * s.oH * s.oW
        var y = [Float](repeating: .nan, count: count + 64)
        x.data.withUnsafeBufferPointer { xb in
          w.data.withUnsafeBufferPointer { wb in
            y.withUnsafeMutableBufferPointer { yb in
              Kernels.conv2dWinograd(xb.baseAddress!, weight: wb.baseAddress!, bias: bias, shape: s, window: c.window,
                                     clamp: nil, y: yb.baseAddress!, budget: slabRows * 16 * (s.cg + s.mg) * tilesW)
            }
          }
        }
        XCTAssertTrue(y[count...].allSatisfy { $0.isNaN }, "\(c.name): wrote past the output")
        assertClose(Tensor(shape: [s.n, s.m, s.oH, s.oW], data: Array(y[..<count])), referenceConv(x, w, bias: bias, window: c.window, group: c.group),
                    "\(c.name), \(slabRows) tile rows per slab")
      }
    }
  }

  func testSmallOrStridedConvolutionsKeepTheIm2colPath() {
    let pad1 = Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
    XCTAssertFalse(Kernels.usesWinograd(Kernels.ConvShape(input: [1, 8, 40, 40], weight: [16, 8, 3, 3], window: pad1, group: 1), pad1))
    XCTAssertFalse(Kernels.usesWinograd(Kernels.ConvShape(input: [1, 16, 10, 10], weight: [16, 16, 3, 3], window: pad1, group: 1), pad1))
    var strided = pad1
    strided.strideH = 2
    XCTAssertFalse(Kernels.usesWinograd(Kernels.ConvShape(input: [1, 16, 40, 40], weight: [16, 16, 3, 3], window: strided, group: 1), strided))
  }

  func testFusedReluOnIm2colAndPointwisePaths() {
    var rng = SplitMix64(seed: 42)
    for c in ConvolutionTests.cases where c.input[2] * c.input[3] < 2000 {
      let x = rng.tensor(c.input), w = rng.tensor([c.filters, c.input[1] / c.group, c.window.kernelH, c.window.kernelW])
      let bias = c.bias ? rng.floats(c.filters) : nil
      assertClose(Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group, clamp: .relu),
                  relu(referenceConv(x, w, bias: bias, window: c.window, group: c.group)), "\(c.name), fused ReLU")
    }
  }
}
