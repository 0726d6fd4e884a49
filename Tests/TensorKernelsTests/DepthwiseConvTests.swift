import XCTest
import TensorKernels
import CKernels

/// The direct depthwise kernel (`conv2dDepthwise`, one filter per channel) against the 7-loop
/// `referenceConv`, over the shapes MobileNets and EfficientNets use (3×3 and 5×5, stride 1 and
/// 2, 112² down to 7² planes) and odd ones: rows narrower than, equal to and just wider than a
/// SIMD vector (8 or 4 lanes) or of fewer than 4 outputs, strides 3, dilations, asymmetric pads, ceil mode, batches, fused ReLU.
final class DepthwiseConvTests: XCTestCase {
  static let cases: [ConvCase] = {
    func square(_ k: Int, stride: Int, pad: Int) -> Window2D {
      Window2D(kernelH: k, kernelW: k, strideH: stride, strideW: stride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
    }
    var cases: [ConvCase] = []
    for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
      for size in [7, 8, 9, 14, 17, 28, 33] {
        cases.append(ConvCase(name: "\(k)x\(k)/\(stride) on \(size)x\(size)", input: [1, 3, size, size], filters: 3, group: 3,
                              window: square(k, stride: stride, pad: k / 2)))
      }
    }
    cases += [
      ConvCase(name: "112x112 batch 2", input: [2, 4, 112, 112], filters: 4, group: 4, window: square(3, stride: 1, pad: 1)),
      ConvCase(name: "stride 3 unpadded", input: [1, 2, 40, 41], filters: 2, group: 2, window: square(3, stride: 3, pad: 0),
               bias: false),
      ConvCase(name: "stride 2 by 1, asymmetric pads", input: [1, 3, 19, 30], filters: 3, group: 3,
               window: Window2D(kernelH: 3, kernelW: 5, strideH: 2, strideW: 1, padTop: 0, padLeft: 2, padBottom: 2, padRight: 1)),
      ConvCase(name: "dilated wide rows", input: [2, 2, 21, 37], filters: 2, group: 2,
               window: Window2D(kernelH: 3, kernelW: 3, strideH: 1, strideW: 2, dilationH: 2, dilationW: 3,
                                padTop: 2, padLeft: 3, padBottom: 2, padRight: 3)),
      ConvCase(name: "ceil mode reaching past the pads", input: [1, 2, 16, 27], filters: 2, group: 2,
               window: Window2D(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0,
                                ceilMode: true)),
      ConvCase(name: "1x1 depthwise", input: [1, 5, 9, 11], filters: 5, group: 5, window: Window2D(kernelH: 1, kernelW: 1)),
      ConvCase(name: "rows of 3 outputs (scalar path)", input: [2, 3, 5, 3], filters: 3, group: 3, window: square(3, stride: 1, pad: 1)),
      ConvCase(name: "kernel larger than the input", input: [1, 2, 3, 4], filters: 2, group: 2, window: square(5, stride: 1, pad: 2)),
    ]
    return cases
  }()

  func testDepthwiseMatchesDirectConvolution() {
    var rng = SplitMix64(seed: 21)
    for c in Self.cases {
      let x = rng.tensor(c.input)
      let w = rng.tensor([c.filters, 1, c.window.kernelH, c.window.kernelW])
      let bias = c.bias ? rng.floats(c.filters) : nil
      let y = Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group)
      assertClose(y, referenceConv(x, w, bias: bias, window: c.window, group: c.group), c.name)
    }
  }

  func testDepthwiseFusedReluIsReluOfTheConvolution() {
    var rng = SplitMix64(seed: 22)
    for c in Self.cases {
      let x = rng.tensor(c.input)
      let w = rng.tensor([c.filters, 1, c.window.kernelH, c.window.kernelW])
      let bias = rng.floats(c.filters)
      let y = Kernels.conv2d(x, weight: w, bias: bias, window: c.window, group: c.group, clamp: .relu)
      var expected = referenceConv(x, w, bias: bias, window: c.window, group: c.group)
      expected.values = expected.values.map { max($0, 0) }
      assertClose(y, expected, "\(c.name), fused ReLU")
      XCTAssertFalse(y.data.contains { $0 < 0 }, "\(c.name): negative output after ReLU")
    }
  }

  func testDepthwiseTransposedMatchesDirectScatterAndIsAdjoint() {
    var rng = SplitMix64(seed: 23)
    for c in Self.cases {
      let x = rng.tensor(c.input)
      let w = rng.tensor([c.filters, 1, c.window.kernelH, c.window.kernelW])
      let y = Kernels.conv2d(x, weight: w, bias: nil, window: c.window, group: c.group)
      let gy = rng.tensor(y.shape)
      let gx = Kernels.conv2dTransposedInput(gy, weight: w, window: c.window, group: c.group, inputShape: c.input)
      assertClose(gx, referenceConvTransposed(gy, w, window: c.window, group: c.group, inputShape: c.input), c.name)
      let lhs = dot(y.data, gy.data), rhs = dot(x.data, gx.data)
      assertClose(lhs.value, rhs.value, magnitude: lhs.magnitude + rhs.magnitude, "\(c.name): <conv(x), g> = <x, convᵀ(g)>")
    }
  }

  /// Every instruction-set variant of the C plane kernel `clrp_depthwise_plane_at_level`, called
  /// directly with a scratch plane laid out here by hand as its contract asks (zero border, 32
  /// readable floats after each row's last tap filled with a large value that must not leak into
  /// the outputs nor be overwritten), against `referenceConv`, without and with a clamp (ReLU6).
  func testEveryInstructionSetVariantOfThePlaneKernelMatchesDirectConvolution() {
    var rng = SplitMix64(seed: 24)
    for c in Self.cases {
      let x = rng.tensor(c.input, scale: 4)
      let w = rng.tensor([c.filters, 1, c.window.kernelH, c.window.kernelW])
      let bias = rng.floats(c.filters)
      let expected = referenceConv(x, w, bias: bias, window: c.window, group: c.group)
      let (n, channels, h, wd) = (c.input[0], c.input[1], c.input[2], c.input[3])
      let (oH, oW) = (expected.shape[2], expected.shape[3])
      let win = c.window
      let rows = max(win.padTop + h, (oH - 1) * win.strideH + (win.kernelH - 1) * win.dilationH + 1)
      let reach = max(win.padLeft + wd, (oW - 1) * win.strideW + (win.kernelW - 1) * win.dilationW + 1)
      let rowStride = reach + 32
      for (level, name) in instructionSetLevels {
        for clamp in [nil, Clamp(lower: 0, upper: 6)] {
          var geometry = clrp_depthwise_geometry(
            in_h: h, in_w: wd, out_h: oH, out_w: oW, kernel_h: win.kernelH, kernel_w: win.kernelW, stride_h: win.strideH,
            stride_w: win.strideW, dilation_h: win.dilationH, dilation_w: win.dilationW, pad_top: win.padTop,
            pad_left: win.padLeft, row_stride: rowStride,
            clamps: clamp == nil ? 0 : 1, lower: clamp?.lower ?? 0, upper: clamp?.upper ?? 0)
          var y = [Float](repeating: .nan, count: n * channels * oH * oW)
          // Zero inside the window's reach, 1e30 in the slack the vector loads may read.
          var padded = [Float](repeating: 1e30, count: rows * rowStride + 32)
          for r in 0..<rows { for col in 0..<reach { padded[r * rowStride + col] = 0 } }
          for p in 0..<(n * channels) {
            let channel = p % channels
            x.data.withUnsafeBufferPointer { xb in
              w.data.withUnsafeBufferPointer { wb in
                y.withUnsafeMutableBufferPointer { yb in
                  clrp_depthwise_plane_at_level(Int32(level), &geometry, xb.baseAddress! + p * h * wd, &padded,
                                                wb.baseAddress! + channel * win.kernelH * win.kernelW,
                                                bias[channel], yb.baseAddress! + p * oH * oW)
                }
              }
            }
            for r in 0..<rows {
              for col in 0..<(rowStride) {
                let inside = r >= win.padTop && r < win.padTop + h && col >= win.padLeft && col < win.padLeft + wd
                let expected: Float = inside ? x.data[(p * h + r - win.padTop) * wd + col - win.padLeft] : col < reach ? 0 : 1e30
                if padded[r * rowStride + col] != expected {
                  XCTFail("\(c.name), \(name): scratch [\(r), \(col)] is \(padded[r * rowStride + col]), expected \(expected)")
                  return
                }
              }
            }
          }
          var reference = expected
          if let clamp { reference.values = reference.values.map { Swift.min(Swift.max($0, Double(clamp.lower)), Double(clamp.upper)) } }
          assertClose(Tensor(shape: expected.shape, data: y), reference,
                      "\(c.name), \(name)\(clamp == nil ? "" : ", clamped to [0, 6]")")
        }
      }
    }
  }

  /// Every instruction-set variant of `clrp_depthwise_transposed_plane_at_level` against
  /// `referenceConvTransposed`, on planes written into a buffer with a NaN guard after the last
  /// plane (the kernel must write exactly its plane: zeroing it first, nothing past it).
  func testEveryInstructionSetVariantOfTheTransposedPlaneKernelMatchesDirectScatter() {
    var rng = SplitMix64(seed: 25)
    for c in Self.cases {
      let (n, channels, h, wd) = (c.input[0], c.input[1], c.input[2], c.input[3])
      let win = c.window
      let (oH, oW) = win.outputSize(height: h, width: wd)
      let w = rng.tensor([c.filters, 1, win.kernelH, win.kernelW])
      let gy = rng.tensor([n, channels, oH, oW])
      let expected = referenceConvTransposed(gy, w, window: win, group: c.group, inputShape: c.input)
      var geometry = clrp_depthwise_transposed_geometry(
        in_h: h, in_w: wd, out_h: oH, out_w: oW, kernel_h: win.kernelH, kernel_w: win.kernelW, stride_h: win.strideH,
        stride_w: win.strideW, dilation_h: win.dilationH, dilation_w: win.dilationW, pad_top: win.padTop, pad_left: win.padLeft)
      for (level, name) in instructionSetLevels {
        var x = [Float](repeating: .nan, count: n * channels * h * wd + 1)
        for p in 0..<(n * channels) {
          gy.data.withUnsafeBufferPointer { gb in
            w.data.withUnsafeBufferPointer { wb in
              x.withUnsafeMutableBufferPointer { xb in
                clrp_depthwise_transposed_plane_at_level(Int32(level), &geometry, gb.baseAddress! + p * oH * oW,
                                                         wb.baseAddress! + (p % channels) * win.kernelH * win.kernelW,
                                                         xb.baseAddress! + p * h * wd)
              }
            }
          }
        }
        XCTAssert(x.last!.isNaN, "\(c.name), \(name): wrote past the last plane")
        assertClose(Tensor(shape: c.input, data: Array(x.dropLast())), expected, "\(c.name), \(name)")
      }
    }
  }
}
