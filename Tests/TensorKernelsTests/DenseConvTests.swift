import XCTest
import TensorKernels

/// Direct 7-loop convolution straight from the ONNX `Conv` formula.
func referenceConv(_ x: Tensor, _ w: Tensor, bias: [Float]?, window: Window2D, group: Int) -> Reference {
  let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  let oh = referenceOutputLength(h, kernel: kh, stride: window.strideH, dilation: window.dilationH,
                                 padBegin: window.padTop, padEnd: window.padBottom, ceil: window.ceilMode)
  let ow = referenceOutputLength(wd, kernel: kw, stride: window.strideW, dilation: window.dilationW,
                                 padBegin: window.padLeft, padEnd: window.padRight, ceil: window.ceilMode)
  var values: [Double] = [], magnitude: [Double] = []
  for b in 0..<n {
    for f in 0..<m {
      let g = f / (m / group)
      for y in 0..<oh {
        for z in 0..<ow {
          var s = Double(bias?[f] ?? 0), mag = abs(s)
          for ch in 0..<cg {
            for i in 0..<kh {
              for j in 0..<kw {
                let hh = y * window.strideH - window.padTop + i * window.dilationH
                let ww = z * window.strideW - window.padLeft + j * window.dilationW
                guard hh >= 0 && hh < h && ww >= 0 && ww < wd else { continue }
                let p = Double(x.data[((b * c + g * cg + ch) * h + hh) * wd + ww])
                  * Double(w.data[((f * cg + ch) * kh + i) * kw + j])
                s += p; mag += abs(p)
              }
            }
          }
          values.append(s); magnitude.append(mag)
        }
      }
    }
  }
  return Reference(shape: [n, m, oh, ow], values: values, magnitude: magnitude)
}

/// Direct scatter of every output gradient through every weight tap onto the input it read.
func referenceConvTransposed(_ gy: Tensor, _ w: Tensor, window: Window2D, group: Int, inputShape: [Int]) -> Reference {
  let (n, c, h, wd) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
  let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  let (oh, ow) = (gy.shape[2], gy.shape[3])
  var values = [Double](repeating: 0, count: inputShape.reduce(1, *)), magnitude = values
  for b in 0..<n {
    for f in 0..<m {
      let g = f / (m / group)
      for y in 0..<oh {
        for z in 0..<ow {
          let r = Double(gy.data[((b * m + f) * oh + y) * ow + z])
          for ch in 0..<cg {
            for i in 0..<kh {
              for j in 0..<kw {
                let hh = y * window.strideH - window.padTop + i * window.dilationH
                let ww = z * window.strideW - window.padLeft + j * window.dilationW
                guard hh >= 0 && hh < h && ww >= 0 && ww < wd else { continue }
                let p = r * Double(w.data[((f * cg + ch) * kh + i) * kw + j])
                let k = ((b * c + g * cg + ch) * h + hh) * wd + ww
                values[k] += p; magnitude[k] += abs(p)
              }
            }
          }
        }
      }
    }
  }
  return Reference(shape: inputShape, values: values, magnitude: magnitude)
}

/// The im2col matrix written straight from its definition.
func referenceIm2col(_ image: [Float], channels: Int, height: Int, width: Int, window: Window2D) -> (rows: Int, cols: Int, data: [Float]) {
  let oh = referenceOutputLength(height, kernel: window.kernelH, stride: window.strideH, dilation: window.dilationH,
                                 padBegin: window.padTop, padEnd: window.padBottom, ceil: window.ceilMode)
  let ow = referenceOutputLength(width, kernel: window.kernelW, stride: window.strideW, dilation: window.dilationW,
                                 padBegin: window.padLeft, padEnd: window.padRight, ceil: window.ceilMode)
  var data: [Float] = []
  for c in 0..<channels {
    for i in 0..<window.kernelH {
      for j in 0..<window.kernelW {
        for y in 0..<oh {
          for z in 0..<ow {
            let hh = y * window.strideH - window.padTop + i * window.dilationH
            let ww = z * window.strideW - window.padLeft + j * window.dilationW
            data.append(hh >= 0 && hh < height && ww >= 0 && ww < width ? image[(c * height + hh) * width + ww] : 0)
          }
        }
      }
    }
  }
  return (channels * window.kernelH * window.kernelW, oh * ow, data)
}

struct ConvCase {
  var name: String
  var input: [Int]
  var filters: Int
  var group: Int
  var window: Window2D
  var bias = true
}

final class DenseTests: XCTestCase {
  func referenceDense(_ x: Tensor, _ w: Tensor, _ bias: [Float]?) -> Reference {
    let (n, k, m) = (x.shape[0], x.shape[1], w.shape[0])
    var values: [Double] = [], magnitude: [Double] = []
    for i in 0..<n {
      for j in 0..<m {
        var s = Double(bias?[j] ?? 0), mag = abs(s)
        for l in 0..<k { let p = Double(x.data[i * k + l]) * Double(w.data[j * k + l]); s += p; mag += abs(p) }
        values.append(s); magnitude.append(mag)
      }
    }
    return Reference(shape: [n, m], values: values, magnitude: magnitude)
  }

  func testDenseMatchesReference() {
    var rng = SplitMix64(seed: 1)
    for (n, k, m) in [(1, 7, 5), (3, 64, 10), (5, 1, 3), (2, 300, 33)] {
      let x = rng.tensor([n, k]), w = rng.tensor([m, k]), b = rng.floats(m)
      assertClose(Kernels.dense(x, weight: w, bias: b), referenceDense(x, w, b), "dense \(n)x\(k)x\(m)")
      assertClose(Kernels.dense(x, weight: w, bias: nil), referenceDense(x, w, nil), "dense no bias \(n)x\(k)x\(m)")
    }
  }

  func testDenseTransposedMatchesReferenceAndIsAdjoint() {
    var rng = SplitMix64(seed: 2)
    for (n, k, m) in [(1, 7, 5), (4, 50, 12), (2, 3, 1)] {
      let g = rng.tensor([n, m]), w = rng.tensor([m, k]), x = rng.tensor([n, k])
      var values: [Double] = [], magnitude: [Double] = []
      for i in 0..<n {
        for l in 0..<k {
          var s = 0.0, mag = 0.0
          for j in 0..<m { let p = Double(g.data[i * m + j]) * Double(w.data[j * k + l]); s += p; mag += abs(p) }
          values.append(s); magnitude.append(mag)
        }
      }
      let gx = Kernels.denseTransposed(g, weight: w)
      assertClose(gx, Reference(shape: [n, k], values: values, magnitude: magnitude), "denseTransposed")
      let lhs = dot(Kernels.dense(x, weight: w, bias: nil).data, g.data)
      let rhs = dot(x.data, gx.data)
      assertClose(lhs.value, rhs.value, magnitude: lhs.magnitude + rhs.magnitude, "<Wx, g> = <x, Wᵀg>")
    }
  }
}

final class ConvolutionTests: XCTestCase {
  static let cases: [ConvCase] = [
    ConvCase(name: "3x3 pad 1", input: [2, 3, 7, 6], filters: 4, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ConvCase(name: "stride 2 asymmetric pads", input: [1, 4, 9, 8], filters: 6, group: 1,
             window: Window2D(kernelH: 3, kernelW: 2, strideH: 2, strideW: 3, padTop: 0, padLeft: 1, padBottom: 2, padRight: 1)),
    ConvCase(name: "dilation", input: [2, 2, 10, 9], filters: 3, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, dilationH: 2, dilationW: 3, padTop: 2, padLeft: 1, padBottom: 1, padRight: 3),
             bias: false),
    ConvCase(name: "groups, stride, dilation, pads", input: [2, 6, 11, 10], filters: 9, group: 3,
             window: Window2D(kernelH: 2, kernelW: 3, strideH: 2, strideW: 1, dilationH: 2, dilationW: 1,
                              padTop: 1, padLeft: 0, padBottom: 0, padRight: 2)),
    ConvCase(name: "depthwise", input: [1, 5, 8, 8], filters: 5, group: 5,
             window: Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ConvCase(name: "depthwise dilated asymmetric ceil", input: [2, 4, 9, 7], filters: 4, group: 4,
             window: Window2D(kernelH: 3, kernelW: 2, strideH: 1, strideW: 2, dilationH: 2, dilationW: 1,
                              padTop: 2, padLeft: 0, padBottom: 1, padRight: 1, ceilMode: true)),
    ConvCase(name: "depthwise multiplier 2", input: [2, 3, 6, 7], filters: 6, group: 3,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), bias: false),
    ConvCase(name: "1x1 fast path", input: [2, 8, 5, 7], filters: 4, group: 1, window: Window2D(kernelH: 1, kernelW: 1)),
    ConvCase(name: "1x1 fast path grouped", input: [2, 8, 4, 3], filters: 6, group: 2, window: Window2D(kernelH: 1, kernelW: 1),
             bias: false),
    ConvCase(name: "1x1 stride 2", input: [1, 4, 7, 7], filters: 3, group: 1,
             window: Window2D(kernelH: 1, kernelW: 1, strideH: 2, strideW: 2)),
    ConvCase(name: "1x1 padded", input: [1, 3, 4, 5], filters: 2, group: 1,
             window: Window2D(kernelH: 1, kernelW: 1, padTop: 1, padLeft: 0, padBottom: 0, padRight: 2)),
    ConvCase(name: "kernel as large as padded input", input: [1, 2, 3, 4], filters: 2, group: 1,
             window: Window2D(kernelH: 5, kernelW: 4, padTop: 1, padLeft: 0, padBottom: 1, padRight: 0)),
    ConvCase(name: "ceil-mode window", input: [1, 2, 6, 7], filters: 3, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 0, padBottom: 0, padRight: 1,
                              ceilMode: true)),
    // Large enough that the im2col matrix is built in several slabs of output rows.
    ConvCase(name: "multi-slab", input: [1, 16, 100, 100], filters: 8, group: 1,
             window: Window2D(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
    ConvCase(name: "multi-slab grouped strided", input: [1, 32, 130, 90], filters: 4, group: 2,
             window: Window2D(kernelH: 5, kernelW: 3, strideH: 1, strideW: 2, padTop: 2, padLeft: 0, padBottom: 1, padRight: 1)),
  ]

  func weights(_ c: ConvCase, _ rng: inout SplitMix64) -> Tensor {
    rng.tensor([c.filters, c.input[1] / c.group, c.window.kernelH, c.window.kernelW])
  }

  func testConv2dMatchesDirectConvolution() {
    var rng = SplitMix64(seed: 3)
    for c in Self.cases {
      let x = rng.tensor(c.input), w = weights(c, &rng)
      let bias = c.bias ? rng.floats(c.filters) : nil
      let y = Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group)
      assertClose(y, referenceConv(x, w, bias: bias, window: c.window, group: c.group), c.name)
    }
  }

  func testConv2dTransposedInputMatchesDirectScatter() {
    var rng = SplitMix64(seed: 4)
    for c in Self.cases {
      let w = weights(c, &rng)
      let outShape = referenceConv(Tensor(zeros: c.input), w, bias: nil, window: c.window, group: c.group).shape
      let gy = rng.tensor(outShape)
      let gx = Kernels.conv2dTransposedInput(gy, weight: w, window: c.window, group: c.group, inputShape: c.input)
      assertClose(gx, referenceConvTransposed(gy, w, window: c.window, group: c.group, inputShape: c.input), c.name)
    }
  }

  func testConv2dTransposedInputIsAdjointOfConv2d() {
    var rng = SplitMix64(seed: 5)
    for c in Self.cases {
      let x = rng.tensor(c.input), w = weights(c, &rng)
      let y = Kernels.conv2d(x, weight: w, bias: nil, window: c.window, group: c.group)
      let gy = rng.tensor(y.shape)
      let gx = Kernels.conv2dTransposedInput(gy, weight: w, window: c.window, group: c.group, inputShape: c.input)
      let lhs = dot(y.data, gy.data), rhs = dot(x.data, gx.data)
      assertClose(lhs.value, rhs.value, magnitude: lhs.magnitude + rhs.magnitude, "\(c.name): <conv(x), g> = <x, convᵀ(g)>")
    }
  }

  func testIm2colMatchesDefinitionAndCol2imIsItsAdjoint() {
    var rng = SplitMix64(seed: 6)
    for c in Self.cases where c.input[2] * c.input[3] < 2000 {
      let (ch, h, w) = (c.input[1], c.input[2], c.input[3])
      let image = rng.floats(ch * h * w)
      let ref = referenceIm2col(image, channels: ch, height: h, width: w, window: c.window)
      var columns = [Float](repeating: .nan, count: ref.rows * ref.cols)
      image.withUnsafeBufferPointer { ib in
        columns.withUnsafeMutableBufferPointer { cb in
          Kernels.im2col(ib.baseAddress!, channels: ch, height: h, width: w, window: c.window, columns: cb.baseAddress!)
        }
      }
      XCTAssertEqual(columns, ref.data, "im2col \(c.name)")

      let y = rng.floats(ref.rows * ref.cols)
      let start = rng.floats(ch * h * w)
      var back = start
      y.withUnsafeBufferPointer { yb in
        back.withUnsafeMutableBufferPointer { bb in
          Kernels.col2im(yb.baseAddress!, channels: ch, height: h, width: w, window: c.window, image: bb.baseAddress!)
        }
      }
      let added = zip(back, start).map { $0 - $1 }
      let lhs = dot(columns, y), rhs = dot(image, added)
      assertClose(lhs.value, rhs.value, magnitude: lhs.magnitude + rhs.magnitude, "\(c.name): <im2col(x), y> = <x, col2im(y)>")

      var scatter = [Double](repeating: 0, count: ch * h * w)
      for row in 0..<ref.rows {
        let (cc, i, j) = (row / (c.window.kernelH * c.window.kernelW), row / c.window.kernelW % c.window.kernelH, row % c.window.kernelW)
        let ow = referenceOutputLength(w, kernel: c.window.kernelW, stride: c.window.strideW, dilation: c.window.dilationW,
                                       padBegin: c.window.padLeft, padEnd: c.window.padRight, ceil: c.window.ceilMode)
        for col in 0..<ref.cols {
          let hh = col / ow * c.window.strideH - c.window.padTop + i * c.window.dilationH
          let ww = col % ow * c.window.strideW - c.window.padLeft + j * c.window.dilationW
          if hh >= 0 && hh < h && ww >= 0 && ww < w { scatter[(cc * h + hh) * w + ww] += Double(y[row * ref.cols + col]) }
        }
      }
      let expected = zip(scatter, start).map { $0 + Double($1) }
      assertClose(Tensor(shape: [ch * h * w], data: back),
                  Reference(shape: [ch * h * w], values: expected,
                            magnitude: zip(scatter, start).map { abs($0) + abs(Double($1)) + 1 }),
                  "col2im accumulates \(c.name)")
    }
  }
}
