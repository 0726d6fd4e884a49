/// The elementwise binary operators of `Kernels.broadcast` (ONNX `Add`, `Sub`, `Mul`, `Div`).
public enum BinaryOp: Sendable, Hashable {
  case add, sub, mul, div
}

protocol FloatBinaryFunction { static func apply(_ a: Float, _ b: Float) -> Float }
enum AddFunction: FloatBinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum SubFunction: FloatBinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum MulFunction: FloatBinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
enum DivFunction: FloatBinaryFunction { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }

extension Kernels {
  /// The numpy (ONNX multidirectional) broadcast of two shapes: right-aligned, missing leading axes
  /// count as 1, and each axis pair must be equal or contain a 1 (the result takes the other).
  /// Returns `nil` when the shapes are incompatible.
  public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for k in 0..<rank {
      let da = k < rank - a.count ? 1 : a[k - (rank - a.count)]
      let db = k < rank - b.count ? 1 : b[k - (rank - b.count)]
      if da == db || db == 1 { out[k] = da } else if da == 1 { out[k] = db } else { return nil }
    }
    return out
  }

  /// `a op b` elementwise under numpy multidirectional broadcasting (ONNX `Add`/`Sub`/`Mul`/`Div`):
  /// the result has shape `broadcastShape(a.shape, b.shape)` and each operand is read with its
  /// unit (or missing) axes repeated. Traps when the shapes are incompatible.
  public static func broadcast(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
    switch op {
    case .add: return broadcast(a, b, AddFunction.self)
    case .sub: return broadcast(a, b, SubFunction.self)
    case .mul: return broadcast(a, b, MulFunction.self)
    case .div: return broadcast(a, b, DivFunction.self)
    }
  }

  static func broadcast<F: FloatBinaryFunction>(_ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
    guard let shape = broadcastShape(a.shape, b.shape) else {
      preconditionFailure("broadcast: shapes \(a.shape) and \(b.shape) are incompatible")
    }
    let rank = shape.count, count = shape.reduce(1, *)
    // Per output axis: extent and strides of a and b (0 where broadcast); unit axes dropped and
    // neighbours with the same broadcast pattern merged.
    var dims: [Int] = [], sa: [Int] = [], sb: [Int] = []
    var strideA = 1, strideB = 1
    var revDims: [Int] = [], revA: [Bool] = [], revB: [Bool] = []
    for k in stride(from: rank - 1, through: 0, by: -1) {
      let ka = k - (rank - a.rank), kb = k - (rank - b.rank)
      let da = ka >= 0 ? a.shape[ka] : 1, db = kb >= 0 ? b.shape[kb] : 1
      if shape[k] == 1 { continue }
      let aMoves = da != 1, bMoves = db != 1
      if let last = revDims.last, revA.last! == aMoves, revB.last! == bMoves {
        revDims[revDims.count - 1] = last * shape[k]
      } else {
        revDims.append(shape[k]); revA.append(aMoves); revB.append(bMoves)
      }
    }
    for k in 0..<revDims.count {
      dims.append(revDims[k])
      sa.append(revA[k] ? strideA : 0); sb.append(revB[k] ? strideB : 0)
      if revA[k] { strideA *= revDims[k] }
      if revB[k] { strideB *= revDims[k] }
    }
    dims.reverse(); sa.reverse(); sb.reverse()
    let data = a.data.withUnsafeBufferPointer { ab in
      b.data.withUnsafeBufferPointer { bb in
        makeArray(count: count) { y in
          let pa = ab.base, pb = bb.base
          if dims.isEmpty {
            y[0] = F.apply(pa[0], pb[0])
            return
          }
          let r = dims.count
          let inner = dims[r - 1], ia = sa[r - 1], ib = sb[r - 1]
          if r == 1 {
            // One run (equal shapes, or a scalar against a tensor): chunks of it, not of rows.
            parallelChunks(inner, work: inner) { range in
              for k in range { y[k] = F.apply(pa[ia * k], pb[ib * k]) }
            }
            return
          }
          parallelChunks(count / inner, work: count) { range in
            var index = [Int](repeating: 0, count: r - 1)
            var offA = 0, offB = 0
            var rem = range.lowerBound
            for axis in stride(from: r - 2, through: 0, by: -1) {
              index[axis] = rem % dims[axis]; rem /= dims[axis]
              offA += index[axis] * sa[axis]; offB += index[axis] * sb[axis]
            }
            var dst = y + range.lowerBound * inner
            for _ in range {
              let xa = pa + offA, xb = pb + offB
              if ia == 1 && ib == 1 {
                for k in 0..<inner { dst[k] = F.apply(xa[k], xb[k]) }
              } else if ia == 1 {
                let v = xb.pointee
                for k in 0..<inner { dst[k] = F.apply(xa[k], v) }
              } else if ib == 1 {
                let v = xa.pointee
                for k in 0..<inner { dst[k] = F.apply(v, xb[k]) }
              } else {
                dst.update(repeating: F.apply(xa.pointee, xb.pointee), count: inner)
              }
              dst += inner
              var axis = r - 2
              while axis >= 0 {
                index[axis] += 1
                offA += sa[axis]; offB += sb[axis]
                if index[axis] < dims[axis] { break }
                offA -= sa[axis] * dims[axis]; offB -= sb[axis] * dims[axis]
                index[axis] = 0
                axis -= 1
              }
            }
          }
        }
      }
    }
    return Tensor(shape: shape, data: data)
  }
}
