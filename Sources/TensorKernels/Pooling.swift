extension Kernels {
  /// The taps `[lo, hi)` of a window starting at `start` whose positions `start + t·dilation` lie in `[0, limit)`.
  @inline(__always)
  static func validTaps(start: Int, kernel: Int, dilation: Int, limit: Int) -> (Int, Int) {
    let lo = start >= 0 ? 0 : min(kernel, (-start + dilation - 1) / dilation)
    let hi = limit - start <= 0 ? 0 : min(kernel, (limit - start + dilation - 1) / dilation)
    return (lo, max(lo, hi))
  }

  /// Per output position along one pooling axis: the first tap and the end tap inside the input,
  /// the number of taps inside the padded input `[-padBegin, size + padEnd)`, and the range of
  /// outputs whose taps all lie inside the input.
  struct PoolAxis {
    var lo: [Int], hi: [Int], padded: [Int]
    var full: Range<Int>

    init(outputs: Int, size: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int) {
      lo = []; hi = []; padded = []
      lo.reserveCapacity(outputs); hi.reserveCapacity(outputs); padded.reserveCapacity(outputs)
      var first = outputs, last = -1
      for o in 0..<outputs {
        let start = o * stride - padBegin
        let (l, h) = Kernels.validTaps(start: start, kernel: kernel, dilation: dilation, limit: size)
        lo.append(l); hi.append(h)
        padded.append(Kernels.validTaps(start: start, kernel: kernel, dilation: dilation, limit: size + padEnd).1)
        if l == 0 && h == kernel { first = min(first, o); last = o }
      }
      full = first <= last ? first..<(last + 1) : 0..<0
    }
  }

  /// Sizes of a 2-D pooling over the `(n, c)` planes of an NCHW tensor.
  struct PoolGeometry {
    var planes, h, w, oH, oW: Int
    var rows, columns: PoolAxis

    init(_ shape: [Int], _ window: Window2D, _ name: String) {
      precondition(shape.count == 4, "\(name) expects an NCHW input, got \(shape)")
      (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
      (oH, oW) = window.outputSize(height: h, width: w)
      rows = PoolAxis(outputs: oH, size: h, kernel: window.kernelH, stride: window.strideH,
                      dilation: window.dilationH, padBegin: window.padTop, padEnd: window.padBottom)
      columns = PoolAxis(outputs: oW, size: w, kernel: window.kernelW, stride: window.strideW,
                         dilation: window.dilationW, padBegin: window.padLeft, padEnd: window.padRight)
    }
  }
}
