import XCTest
import TensorKernels
import CKernels

/// The C row passes (`clrp_fill_rows`, `clrp_clamp`) of every instruction-set variant against
/// scalar loops, for lengths around the vector widths, leaving everything outside the rows as it was.
final class RowPassTests: XCTestCase {
  let counts = [0, 1, 7, 8, 9, 15, 16, 17, 33, 100]

  func testFillRowsWritesEachRowsValueAndNothingElse() {
    for (level, name) in instructionSetLevels {
      for count in counts {
        let rows = 3, stride = count + 5
        let values: [Float] = [1.5, -2, .infinity]
        var p = [Float](repeating: .nan, count: rows * stride)
        clrp_fill_rows_at_level(Int32(level), &p, rows, count, stride, values)
        for r in 0..<rows {
          for k in 0..<stride {
            let got = p[r * stride + k]
            if k < count {
              XCTAssertEqual(got, values[r], "\(name), count \(count): row \(r)[\(k)]")
            } else {
              XCTAssert(got.isNaN, "\(name), count \(count): wrote row \(r)[\(k)] past the row")
            }
          }
        }
      }
    }
  }

  func testClampMatchesTheScalarClamp() {
    var rng = SplitMix64(seed: 41)
    for (level, name) in instructionSetLevels {
      for count in counts {
        for clamp in [Clamp.relu, Clamp(lower: 0, upper: 6), Clamp(lower: -1, upper: 0.5)] {
          var x = rng.floats(count).map { $0 * 10 }
          if count > 3 { x[1] = .nan; x[2] = .infinity; x[3] = -.infinity }
          var p = x + [42]
          clrp_clamp_at_level(Int32(level), &p, count, clamp.lower, clamp.upper)
          for k in 0..<count {
            XCTAssertEqual(p[k], clamp(x[k]), "\(name), count \(count): clamp(\(x[k])) to \(clamp)")
          }
          XCTAssertEqual(p[count], 42, "\(name), count \(count): wrote past the end")
        }
      }
    }
  }
}
