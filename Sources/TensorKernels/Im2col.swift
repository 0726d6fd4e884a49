extension Kernels {
  /// Unfolds the sliding windows of one image (or one group's channels of it) into a matrix.
  ///
  /// `image` is `[channels, height, width]`; `columns` receives the row-major matrix
  /// `[channels · kH · kW, oH · oW]` with `(oH, oW) = window.outputSize(height:width:)` and
  ///
  ///     columns[(c·kH + i)·kW + j, oh·oW + ow] = image[c, oh·sH − padTop + i·dH, ow·sW − padLeft + j·dW]
  ///
  /// where taps outside the image read 0. `conv2d` is `W · columns` for `W` viewed as
  /// `[M, channels · kH · kW]`.
  public static func im2col(_ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                            window: Window2D, columns: UnsafeMutablePointer<Float>) {
    let (oH, oW) = window.outputSize(height: height, width: width)
    let work = channels * window.kernelH * window.kernelW * oH * oW
    parallelChunks(channels, work: work) { cs in
      im2colRows(image, height: height, width: width, window: window, outWidth: oW,
                 rows: 0..<oH, channels: cs, columns: columns, ld: oH * oW)
    }
  }

  /// The adjoint of `im2col`: scatters `columns` back onto the image, **adding** to `image`.
  ///
  /// With the layout of `im2col`,
  /// `image[c, h, w] += Σ columns[(c·kH + i)·kW + j, oh·oW + ow]` over all `(i, j, oh, ow)` whose tap
  /// lands on `(h, w)`; taps in the padding are dropped. Hence
  /// `⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩` when `image` starts at zero.
  public static func col2im(_ columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                            window: Window2D, image: UnsafeMutablePointer<Float>) {
    let (oH, oW) = window.outputSize(height: height, width: width)
    let work = channels * window.kernelH * window.kernelW * oH * oW
    parallelChunks(channels, work: work) { cs in
      col2imRows(columns, height: height, width: width, window: window, outWidth: oW,
                 rows: 0..<oH, channels: cs, image: image, ld: oH * oW)
    }
  }

  /// The output columns `[lo, hi)` along one axis whose tap `offset + o·stride` lies in `[0, size)`.
  @inline(__always)
  static func validOutputRange(offset: Int, stride: Int, size: Int, outputs: Int) -> (Int, Int) {
    let lo = offset >= 0 ? 0 : min(outputs, (-offset + stride - 1) / stride)
    let hi = size - offset <= 0 ? 0 : min(outputs, (size - offset + stride - 1) / stride)
    return (lo, max(lo, hi))
  }

  /// `im2col` restricted to output rows `rows` and image channels `channels`; column block `oh`
  /// of row `r` goes to `columns[r · ld + (oh − rows.lowerBound) · oW]`.
  static func im2colRows(_ image: UnsafePointer<Float>, height: Int, width: Int, window: Window2D,
                         outWidth oW: Int, rows: Range<Int>, channels: Range<Int>,
                         columns: UnsafeMutablePointer<Float>, ld: Int) {
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW
    for c in channels {
      let plane = image + c * height * width
      for i in 0..<kH {
        for j in 0..<kW {
          var dst = columns + ((c * kH + i) * kW + j) * ld
          let offW = j * dW - window.padLeft
          let (lo, hi) = validOutputRange(offset: offW, stride: sW, size: width, outputs: oW)
          for oh in rows {
            let ih = oh * sH - window.padTop + i * dH
            if ih < 0 || ih >= height || lo == hi {
              dst.update(repeating: 0, count: oW)
            } else {
              if lo > 0 { dst.update(repeating: 0, count: lo) }
              let row = plane + ih * width
              if sW == 1 {
                (dst + lo).update(from: row + (lo + offW), count: hi - lo)
              } else {
                var src = row + (lo * sW + offW)
                for ow in lo..<hi { dst[ow] = src.pointee; src += sW }
              }
              if hi < oW { (dst + hi).update(repeating: 0, count: oW - hi) }
            }
            dst += oW
          }
        }
      }
    }
  }

  /// `col2im` restricted to output rows `rows` and image channels `channels`, reading the layout
  /// written by `im2colRows`.
  static func col2imRows(_ columns: UnsafePointer<Float>, height: Int, width: Int, window: Window2D,
                         outWidth oW: Int, rows: Range<Int>, channels: Range<Int>,
                         image: UnsafeMutablePointer<Float>, ld: Int) {
    let kH = window.kernelH, kW = window.kernelW, sH = window.strideH, sW = window.strideW
    let dH = window.dilationH, dW = window.dilationW
    for c in channels {
      let plane = image + c * height * width
      for i in 0..<kH {
        for j in 0..<kW {
          var src = columns + ((c * kH + i) * kW + j) * ld
          let offW = j * dW - window.padLeft
          let (lo, hi) = validOutputRange(offset: offW, stride: sW, size: width, outputs: oW)
          for oh in rows {
            let ih = oh * sH - window.padTop + i * dH
            if ih >= 0 && ih < height && lo < hi {
              let row = plane + ih * width
              if sW == 1 {
                let dst = row + (lo + offW)
                for ow in 0..<(hi - lo) { dst[ow] += src[lo + ow] }
              } else {
                var dst = row + (lo * sW + offW)
                for ow in lo..<hi { dst.pointee += src[ow]; dst += sW }
              }
            }
            src += oW
          }
        }
      }
    }
  }
}
