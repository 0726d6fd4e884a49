import XCTest
import TensorKernels
import CKernels

/// Visits the window taps of output `(oh, ow)` in row-major order, giving each tap's position.
func forEachTap(_ window: Window2D, _ oh: Int, _ ow: Int, _ body: (Int, Int) -> Void) {
  for i in 0..<window.kernelH {
    for j in 0..<window.kernelW {
      body(oh * window.strideH - window.padTop + i * window.dilationH,
           ow * window.strideW - window.padLeft + j * window.dilationW)
    }
  }
}

func referencePoolSize(_ shape: [Int], _ window: Window2D) -> (Int, Int) {
  (referenceOutputLength(shape[2], kernel: window.kernelH, stride: window.strideH, dilation: window.dilationH,
                         padBegin: window.padTop, padEnd: window.padBottom, ceil: window.ceilMode),
   referenceOutputLength(shape[3], kernel: window.kernelW, stride: window.strideW, dilation: window.dilationW,
                         padBegin: window.padLeft, padEnd: window.padRight, ceil: window.ceilMode))
}

/// Max pooling by scanning each window; ties keep the first tap.
func referenceMaxPool(_ x: Tensor, _ window: Window2D) -> (Tensor, [Int32]) {
  let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (oh, ow) = referencePoolSize(x.shape, window)
  var values: [Float] = [], argmax: [Int32] = []
  for p in 0..<(n * c) {
    for y in 0..<oh {
      for z in 0..<ow {
        var best: Float? = nil, index = -1
        forEachTap(window, y, z) { hh, ww in
          guard hh >= 0 && hh < h && ww >= 0 && ww < w else { return }
          let v = x.data[(p * h + hh) * w + ww]
          if best == nil || v > best! { best = v; index = hh * w + ww }
        }
        values.append(best ?? -Float.greatestFiniteMagnitude)
        argmax.append(Int32(index))
      }
    }
  }
  return (Tensor(shape: [n, c, oh, ow], data: values), argmax)
}

/// Average pooling with onnxruntime's divisor: the taps inside the input (`countIncludePad` false)
/// or inside the padded input `[-padBegin, size + padEnd)` on both axes (true).
func referenceAvgPool(_ x: Tensor, _ window: Window2D, countIncludePad: Bool) -> Reference {
  let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (oh, ow) = referencePoolSize(x.shape, window)
  var values: [Double] = [], magnitude: [Double] = []
  for p in 0..<(n * c) {
    for y in 0..<oh {
      for z in 0..<ow {
        var sum = 0.0, mag = 0.0, count = 0
        forEachTap(window, y, z) { hh, ww in
          let inside = hh >= 0 && hh < h && ww >= 0 && ww < w
          let insidePadded = hh >= -window.padTop && hh < h + window.padBottom
            && ww >= -window.padLeft && ww < w + window.padRight
          if inside {
            let v = Double(x.data[(p * h + hh) * w + ww])
            sum += v; mag += abs(v)
          }
          if countIncludePad ? insidePadded : inside { count += 1 }
        }
        values.append(count == 0 ? 0 : sum / Double(count))
        magnitude.append(count == 0 ? 0 : mag / Double(count))
      }
    }
  }
  return Reference(shape: [n, c, oh, ow], values: values, magnitude: magnitude)
}

final class PoolingTests: XCTestCase {
  static let windows: [(String, Window2D)] = [
    ("2x2 stride 2", Window2D(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)),
    ("3x3 stride 2 ceil no pads", Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, ceilMode: true)),
    ("3x3 stride 2 ceil asymmetric pads", Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                                  padTop: 1, padLeft: 0, padBottom: 0, padRight: 1, ceilMode: true)),
    ("2x3 ceil pads", Window2D(kernelH: 2, kernelW: 3, strideH: 2, strideW: 3, padTop: 1, padLeft: 2, padBottom: 1, padRight: 1,
                               ceilMode: true)),
    ("3x3 stride 1 pad 1", Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ("asymmetric floor", Window2D(kernelH: 3, kernelW: 2, strideH: 2, strideW: 1, padTop: 0, padLeft: 1, padBottom: 2, padRight: 0)),
    ("dilated ceil", Window2D(kernelH: 2, kernelW: 3, strideH: 2, strideW: 2, dilationH: 2, dilationW: 2,
                              padTop: 1, padLeft: 1, padBottom: 0, padRight: 2, ceilMode: true)),
  ]
  static let shapes: [[Int]] = [[2, 3, 7, 9], [1, 2, 6, 6], [1, 1, 5, 4], [2, 1, 1, 3], [1, 2, 3, 3], [1, 2, 5, 37], [2, 8, 40, 41]]

  /// Whether the dilated window fits the padded input on both axes (else `Window2D` yields no output).
  func fits(_ window: Window2D, _ shape: [Int]) -> Bool {
    shape[2] + window.padTop + window.padBottom >= (window.kernelH - 1) * window.dilationH + 1
      && shape[3] + window.padLeft + window.padRight >= (window.kernelW - 1) * window.dilationW + 1
  }

  func testMaxPoolMatchesReferenceIncludingTies() {
    var rng = SplitMix64(seed: 10)
    for (name, window) in Self.windows {
      for shape in Self.shapes where fits(window, shape) {
        for coarse in [false, true] {
          let x = coarse ? rng.coarseTensor(shape, levels: 1) : rng.tensor(shape)
          let (y, argmax) = Kernels.maxPool2d(x, window: window)
          let (ry, rargmax) = referenceMaxPool(x, window)
          XCTAssertEqual(y, ry, "\(name) \(shape) coarse \(coarse)")
          XCTAssertEqual(argmax, rargmax, "\(name) \(shape) coarse \(coarse)")
        }
      }
    }
  }

  func testMaxPoolValuesMatchReference() {
    var rng = SplitMix64(seed: 12)
    for (name, window) in Self.windows {
      for shape in Self.shapes where fits(window, shape) {
        let x = rng.tensor(shape)
        XCTAssertEqual(Kernels.maxPool2dValues(x, window: window), referenceMaxPool(x, window).0, "\(name) \(shape)")
      }
    }
  }

  /// Unit-stride windows as wide as their input take the flattened-plane path of `maxPool2dValues`:
  /// asymmetric and dilated windows, rows with no tap in the input, ties, and planes narrower than
  /// and wider than one vector.
  func testMaxPoolValuesUnitStrideSameWidth() {
    var rng = SplitMix64(seed: 12)
    let windows: [(String, Window2D)] = [
      ("3x3 pads 2,0,0,2", Window2D(kernelH: 3, kernelW: 3, padTop: 2, padLeft: 0, padBottom: 0, padRight: 2)),
      ("2x2 pads 1,1,0,0", Window2D(kernelH: 2, kernelW: 2, padTop: 1, padLeft: 1, padBottom: 0, padRight: 0)),
      ("3x3 dilated 2", Window2D(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
      ("rows without taps", Window2D(kernelH: 3, kernelW: 3, padTop: 4, padLeft: 1, padBottom: 0, padRight: 1)),
      ("5x1", Window2D(kernelH: 5, kernelW: 1, padTop: 2, padBottom: 2)),
      ("3x3 pad 1", Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ]
    for (name, window) in windows {
      for shape in [[1, 3, 14, 14], [2, 2, 7, 7], [1, 2, 5, 37], [1, 1, 1, 1], [1, 2, 3, 2]] where fits(window, shape) {
        for coarse in [false, true] {
          let x = coarse ? rng.coarseTensor(shape, levels: 1) : rng.tensor(shape)
          let (oH, oW) = window.outputSize(height: shape[2], width: shape[3])
          XCTAssertEqual(oW, shape[3], name)
          guard oH > 0 else { continue }
          XCTAssertEqual(Kernels.maxPool2dValues(x, window: window), referenceMaxPool(x, window).0, "\(name) \(shape)")
        }
      }
    }
  }

  func testMaxPoolNeverPicksPadding() {
    let x = Tensor(shape: [1, 1, 3, 3], data: [Float](repeating: -5, count: 9))
    let window = Window2D(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1,
                          ceilMode: true)
    let (y, argmax) = Kernels.maxPool2d(x, window: window)
    XCTAssertEqual(y.data, [Float](repeating: -5, count: y.count))
    // Windows start at -1 and 1 on both axes; zero padding would beat -5 if it took part.
    XCTAssertEqual(y.shape, [1, 1, 2, 2])
    XCTAssertEqual(argmax, [0, 1, 3, 4])
  }

  func testMaxPoolMatchesOnnxruntime() {
    // onnxruntime 1.32, MaxPool kernel 3x3, strides 2, pads [1, 0, 0, 1], ceil_mode 1 on a 1x1x5x6 input.
    let (y, _) = Kernels.maxPool2d(Self.ortInput, window: Self.ortWindow)
    XCTAssertEqual(y, Tensor(shape: [1, 1, 3, 3], data: [6, 7, 3, 7, 7, 6, 7, 6, 6]))
  }

  func testMaxPoolScatterRoutesToWinnersAndConservesSum() {
    var rng = SplitMix64(seed: 11)
    for (name, window) in Self.windows {
      for shape in Self.shapes where fits(window, shape) {
        let x = rng.coarseTensor(shape, levels: 2)
        let (y, argmax) = Kernels.maxPool2d(x, window: window)
        let r = rng.tensor(y.shape)
        let scattered = Kernels.maxPoolScatter(r, argmax: argmax, inputShape: shape)
        let plane = y.shape[2] * y.shape[3], inPlane = shape[2] * shape[3]
        var expected = [Double](repeating: 0, count: x.count), magnitude = expected
        for o in 0..<r.count where argmax[o] >= 0 {
          let k = o / plane * inPlane + Int(argmax[o])
          expected[k] += Double(r.data[o]); magnitude[k] += abs(Double(r.data[o]))
        }
        assertClose(scattered, Reference(shape: shape, values: expected, magnitude: magnitude), "\(name) \(shape)")
        let total = r.data.reduce(0.0) { $0 + Double($1) }, scatteredTotal = scattered.data.reduce(0.0) { $0 + Double($1) }
        let magnitudeTotal = r.data.reduce(0.0) { $0 + abs(Double($1)) }
        assertClose(total, scatteredTotal, magnitude: magnitudeTotal, "\(name) \(shape): sum conserved")
      }
    }
  }

  func testAvgPoolMatchesReferenceBothDivisorModes() {
    var rng = SplitMix64(seed: 12)
    for (name, window) in Self.windows {
      for shape in Self.shapes where fits(window, shape) {
        let x = rng.tensor(shape)
        for include in [false, true] {
          assertClose(Kernels.avgPool2d(x, window: window, countIncludePad: include),
                      referenceAvgPool(x, window, countIncludePad: include), "\(name) \(shape) countIncludePad \(include)")
        }
      }
    }
  }

  static let ortInput = Tensor(shape: [1, 1, 5, 6], data: (0..<30).map { Float($0 * 7 % 11 - 3) })
  static let ortWindow = Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                                  padTop: 1, padLeft: 0, padBottom: 0, padRight: 1, ceilMode: true)

  func testAvgPoolMatchesOnnxruntime() {
    // onnxruntime 1.32 (opset 22) outputs for the 1x1x5x6 input above; the last row of windows
    // runs one row past the input, which has no bottom padding.
    let exclude: [Double] = [1.1666666269302368, 2.3333332538604736, 0.0, 2.444444417953491, 1.7777777910232544,
                             0.6666666865348816, 2.5, 1.8333333730697632, 2.25]
    let include: [Double] = [0.7777777910232544, 1.5555555820465088, 0.0, 2.444444417953491, 1.7777777910232544,
                             0.4444444477558136, 2.5, 1.8333333730697632, 1.5]
    assertClose(Kernels.avgPool2d(Self.ortInput, window: Self.ortWindow, countIncludePad: false),
                Reference(shape: [1, 1, 3, 3], values: exclude, magnitude: exclude.map { abs($0) + 1 }), "count_include_pad 0")
    assertClose(Kernels.avgPool2d(Self.ortInput, window: Self.ortWindow, countIncludePad: true),
                Reference(shape: [1, 1, 3, 3], values: include, magnitude: include.map { abs($0) + 1 }), "count_include_pad 1")

    // kernel 2x2, dilations 2, strides [1, 3], pads [0, 1, 1, 0], ceil_mode 1.
    let dilated = Window2D(kernelH: 2, kernelW: 2, strideH: 1, strideW: 3, dilationH: 2, dilationW: 2,
                           padTop: 0, padLeft: 1, padBottom: 1, padRight: 0, ceilMode: true)
    let dilatedExclude: [Double] = [2.0, 2.25, 2.5, 0.0, 0.25, 0.5, 3.5, 3.75, 4.0, -2.0, 1.0, 4.0]
    let dilatedInclude: [Double] = [1.0, 2.25, 2.5, 0.0, 0.25, 0.5, 1.75, 3.75, 4.0, -0.5, 0.5, 2.0]
    assertClose(Kernels.avgPool2d(Self.ortInput, window: dilated, countIncludePad: false),
                Reference(shape: [1, 1, 4, 3], values: dilatedExclude, magnitude: dilatedExclude.map { abs($0) + 1 }),
                "dilated count_include_pad 0")
    assertClose(Kernels.avgPool2d(Self.ortInput, window: dilated, countIncludePad: true),
                Reference(shape: [1, 1, 4, 3], values: dilatedInclude, magnitude: dilatedInclude.map { abs($0) + 1 }),
                "dilated count_include_pad 1")
  }

  func testGlobalAvgPool() {
    var rng = SplitMix64(seed: 13)
    for shape in [[2, 3, 5, 7], [1, 4, 1, 1], [3, 2, 6], [2, 2, 2, 3, 4]] {
      let x = rng.tensor(shape)
      let size = shape.dropFirst(2).reduce(1, *)
      var values: [Double] = [], magnitude: [Double] = []
      for p in 0..<(shape[0] * shape[1]) {
        let plane = x.data[(p * size)..<((p + 1) * size)]
        values.append(plane.reduce(0.0) { $0 + Double($1) } / Double(size))
        magnitude.append(plane.reduce(0.0) { $0 + abs(Double($1)) } / Double(size))
      }
      let outShape = [shape[0], shape[1]] + [Int](repeating: 1, count: shape.count - 2)
      assertClose(Kernels.globalAvgPool(x), Reference(shape: outShape, values: values, magnitude: magnitude), "\(shape)")
    }
  }

  /// Every instruction-set variant of `clrp_plane_means` against double-precision sums, on plane
  /// sizes around its 16-float blocks (0, 1, 15, 16, 17, 49 = 7², 196 = 14², 12544 = 112²) and
  /// offset planes (so that loads are unaligned), with a large common offset that a float
  /// accumulator would lose digits to.
  func testEveryInstructionSetVariantOfPlaneMeans() {
    var rng = SplitMix64(seed: 14)
    for size in [0, 1, 15, 16, 17, 49, 196, 12544] {
      let planes = 3
      let x = (0..<(planes * size + 1)).map { _ in 1000 + rng.unit() }
      for (level, name) in instructionSetLevels {
        var y = [Float](repeating: .nan, count: planes + 1)
        x.withUnsafeBufferPointer { xb in clrp_plane_means_at_level(Int32(level), xb.baseAddress! + 1, planes, size, &y) }
        for p in 0..<planes {
          let plane = x[(1 + p * size)..<(1 + (p + 1) * size)]
          let mean = size == 0 ? 0 : plane.reduce(0.0) { $0 + Double($1) } / Double(size)
          XCTAssertEqual(Double(y[p]), mean, accuracy: 1e-7 * abs(mean), "\(name), plane \(p) of \(size)")
        }
        XCTAssert(y[planes].isNaN, "\(name) wrote past the last plane")
      }
    }
  }
}
