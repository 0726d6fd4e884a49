import XCTest
@testable import Relevance
@testable import TensorKernels

/// The per-image elementwise loops of the relevance pass, split over the thread pool at image
/// boundaries: every index once, with its image's offset, and `multiplied(byImage:)` equal to a
/// plain loop for signal counts whose chunks end inside an image.
final class ImageRunTests: XCTestCase {
  private var savedThreads = 0
  override func setUp() { savedThreads = Kernels.threadCount; Kernels.threadCount = 3 }
  override func tearDown() { Kernels.threadCount = savedThreads }

  func testRunsCoverEveryIndexOnceWithItsImageOffset() {
    for (count, per) in [(4 * 20_001, 20_001), (5 * 7_000, 7_000), (40_000, 40_000), (6, 2)] {
      var seen = [Int](repeating: 0, count: count)
      var offsetsRight = [Bool](repeating: false, count: count)
      seen.withUnsafeMutableBufferPointer { s in
        offsetsRight.withUnsafeMutableBufferPointer { o in
          forEachImageRun(count: count, per: per) { run, offset in
            for i in run { s[i] += 1; o[i] = offset == i / per * per && run.upperBound <= offset + per }
          }
        }
      }
      XCTAssertEqual(seen, [Int](repeating: 1, count: count), "\(count) / \(per)")
      XCTAssertTrue(offsetsRight.allSatisfy { $0 }, "\(count) / \(per)")
    }
  }

  func testMultipliedByImageMatchesAPlainLoop() {
    var rng = SystemRandomNumberGenerator()
    for (signals, per) in [(3, 9_001), (2, 40_000), (1, 5)] {
      let r = Tensor(shape: [signals, per], data: (0..<(signals * per)).map { _ in Float.random(in: -1...1, using: &rng) })
      let m = Tensor(shape: [1, per], data: (0..<per).map { _ in Float.random(in: -1...1, using: &rng) })
      let expected = (0..<(signals * per)).map { r.data[$0] * m.data[$0 % per] }
      XCTAssertEqual(r.multiplied(byImage: m).data, expected, "\(signals) signals of \(per)")
    }
  }
}
