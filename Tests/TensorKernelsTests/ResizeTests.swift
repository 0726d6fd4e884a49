import Foundation
import XCTest
import TensorKernels

/// `resize2d` against its formula on hand-written taps, and `resize2dTransposed` as its adjoint.
final class ResizeTests: XCTestCase {
  let rows: [Kernels.InterpolationTaps] = [[(0, 1)], [(0, 0.25), (1, 0.75)], [(1, 1)], [(2, 0.5), (1, 0.5)]]
  let columns: [Kernels.InterpolationTaps] = [[(1, 1)], [(0, 0.6), (2, 0.4)]]

  func testMatchesTheFormula() {
    let x = Tensor(shape: [1, 2, 3, 3], data: (0..<18).map { Float($0) * 0.5 - 2 })
    let y = Kernels.resize2d(x, rows: rows, columns: columns)
    XCTAssertEqual(y.shape, [1, 2, 4, 2])
    for c in 0..<2 {
      for i in 0..<4 {
        for j in 0..<2 {
          var expected: Float = 0
          for (r, rw) in rows[i] { for (col, cw) in columns[j] { expected += rw * cw * x.data[c * 9 + r * 3 + col] } }
          XCTAssertEqual(y.data[c * 8 + i * 2 + j], expected, accuracy: 1e-6)
        }
      }
    }
  }

  func testTransposedIsTheAdjoint() {
    let x = Tensor(shape: [2, 2, 3, 3], data: (0..<36).map { sin(Float($0)) })
    let g = Tensor(shape: [2, 2, 4, 2], data: (0..<32).map { cos(Float($0) * 0.7) })
    let lhs = zip(Kernels.resize2d(x, rows: rows, columns: columns).data, g.data).reduce(Float(0)) { $0 + $1.0 * $1.1 }
    let rhs = zip(x.data, Kernels.resize2dTransposed(g, rows: rows, columns: columns, inputShape: x.shape).data).reduce(Float(0)) { $0 + $1.0 * $1.1 }
    XCTAssertEqual(lhs, rhs, accuracy: 1e-4)
  }
}
