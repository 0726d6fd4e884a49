import XCTest
import TensorKernels

/// Reads `x` at a multi-index.
func element(_ x: Tensor, _ index: [Int]) -> Float {
  x.data[zip(index, strides(x.shape)).map { $0 * $1 }.reduce(0, +)]
}

final class LayoutTests: XCTestCase {
  func testConcatAlongEveryAxis() {
    var rng = SplitMix64(seed: 30)
    let base = [2, 3, 4, 2]
    for axis in [0, 1, 2, 3, -1, -4] {
      let a = axis < 0 ? axis + 4 : axis
      let extents = [1, 3, 2]
      let parts = extents.map { e -> Tensor in var s = base; s[a] = e; return rng.tensor(s) }
      let y = Kernels.concat(parts, axis: axis)
      var shape = base; shape[a] = extents.reduce(0, +)
      XCTAssertEqual(y.shape, shape)
      guard y.shape == shape else { continue }
      var expected: [Float] = []
      for idx in allIndices(shape) {
        var local = idx, part = 0
        while local[a] >= extents[part] { local[a] -= extents[part]; part += 1 }
        expected.append(element(parts[part], local))
      }
      XCTAssertEqual(y.data, expected, "axis \(axis)")
    }
  }

  func allPermutations(_ n: Int) -> [[Int]] {
    if n == 0 { return [[]] }
    return allPermutations(n - 1).flatMap { p in (0...p.count).map { i in var q = p; q.insert(n - 1, at: i); return q } }
  }

  func checkTranspose(_ x: Tensor, _ perm: [Int], file: StaticString = #filePath, line: UInt = #line) {
    let y = Kernels.transpose(x, perm: perm)
    let shape = perm.map { x.shape[$0] }
    XCTAssertEqual(y.shape, shape, "perm \(perm)", file: file, line: line)
    var expected: [Float] = []
    for idx in allIndices(shape) {
      var source = [Int](repeating: 0, count: perm.count)
      for k in perm.indices { source[perm[k]] = idx[k] }
      expected.append(element(x, source))
    }
    XCTAssertEqual(y.data, expected, "shape \(x.shape) perm \(perm)", file: file, line: line)
  }

  func testTransposeAllFourDimensionalPermutations() {
    var rng = SplitMix64(seed: 31)
    let x = rng.tensor([2, 3, 4, 5])
    let withUnitAxes = rng.tensor([3, 1, 4, 2])
    let perms = allPermutations(4)
    XCTAssertEqual(perms.count, 24)
    for perm in perms {
      checkTranspose(x, perm)
      checkTranspose(withUnitAxes, perm)
    }
  }

  func testTransposeOtherRanks() {
    var rng = SplitMix64(seed: 32)
    checkTranspose(rng.tensor([7]), [0])
    checkTranspose(rng.tensor([3, 5]), [1, 0])
    checkTranspose(rng.tensor([2, 3, 4, 5, 2]), [0, 3, 1, 4, 2])
    checkTranspose(rng.tensor([2, 3, 4, 5, 2]), [4, 3, 2, 1, 0])
    checkTranspose(rng.tensor([2, 3, 4, 5, 2]), [0, 1, 3, 4, 2])
    checkTranspose(rng.tensor([1, 1, 6]), [2, 0, 1])
    checkTranspose(rng.tensor([4, 0, 3]), [2, 1, 0])
  }

  func checkPad(_ x: Tensor, _ pads: [Int], value: Float, file: StaticString = #filePath, line: UInt = #line) {
    let r = x.rank
    let shape = (0..<r).map { x.shape[$0] + pads[$0] + pads[r + $0] }
    let y = Kernels.pad(x, pads: pads, value: value)
    XCTAssertEqual(y.shape, shape, "pads \(pads)", file: file, line: line)
    var expected: [Float] = []
    for idx in allIndices(shape) {
      let source = (0..<r).map { idx[$0] - pads[$0] }
      let inside = (0..<r).allSatisfy { source[$0] >= 0 && source[$0] < x.shape[$0] }
      expected.append(inside ? element(x, source) : value)
    }
    XCTAssertEqual(y.data, expected, "shape \(x.shape) pads \(pads)", file: file, line: line)
  }

  func testPadWithPositiveAndNegativeAmounts() {
    var rng = SplitMix64(seed: 33)
    let x4 = rng.tensor([2, 3, 4, 5])
    checkPad(x4, [0, 0, 1, 2, 0, 0, 1, 2], value: 0)
    checkPad(x4, [0, 1, 0, 0, 1, 0, 2, 3], value: -7.5)
    checkPad(x4, [0, 0, -1, -2, 0, 0, 2, -1], value: 1)
    checkPad(x4, [-1, 1, -2, 3, 0, -1, 1, -4], value: 0.25)
    checkPad(x4, [0, 0, 0, 7, 0, 0, 0, -7], value: 3)
    checkPad(rng.tensor([3, 4]), [-3, 0, 2, 0], value: 2)
    checkPad(rng.tensor([6]), [-2, -3], value: 0)
    checkPad(rng.tensor([2, 0, 3]), [0, 1, 0, 0, 1, 1], value: 9)
  }

  func referenceBroadcast(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Reference? {
    let rank = max(a.rank, b.rank)
    let pa = [Int](repeating: 1, count: rank - a.rank) + a.shape
    let pb = [Int](repeating: 1, count: rank - b.rank) + b.shape
    var shape: [Int] = []
    for k in 0..<rank {
      if pa[k] == pb[k] || pb[k] == 1 { shape.append(pa[k]) } else if pa[k] == 1 { shape.append(pb[k]) } else { return nil }
    }
    let ra = a.reshaped(pa), rb = b.reshaped(pb)
    var values: [Double] = [], magnitude: [Double] = []
    for idx in allIndices(shape) {
      let u = Double(element(ra, (0..<rank).map { pa[$0] == 1 ? 0 : idx[$0] }))
      let v = Double(element(rb, (0..<rank).map { pb[$0] == 1 ? 0 : idx[$0] }))
      switch op {
      case .add: values.append(u + v); magnitude.append(abs(u) + abs(v))
      case .sub: values.append(u - v); magnitude.append(abs(u) + abs(v))
      case .mul: values.append(u * v); magnitude.append(abs(u * v))
      case .div: values.append(u / v); magnitude.append(abs(u / v))
      }
    }
    return Reference(shape: shape, values: values, magnitude: magnitude)
  }

  func testBroadcastingWithRankDifferences() {
    let savedThreads = Kernels.threadCount
    defer { Kernels.threadCount = savedThreads }
    Kernels.threadCount = 3
    var rng = SplitMix64(seed: 34)
    let pairs: [([Int], [Int])] = [
      ([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], []), ([], [2, 3]), ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], [4, 1]),
      ([1, 3, 1, 1], [2, 3, 4, 5]), ([2, 3, 4, 5], [1, 3, 1, 1]), ([4, 1, 5], [3, 1]), ([3, 1], [2, 1, 4]),
      ([1], [6, 1, 2]), ([2, 1, 4, 1], [3, 1, 6]), ([1, 1, 1], [1]), ([5, 1, 1, 7], [1, 4, 3, 1]),
      ([8, 200], [200]), ([64, 1, 1], [2, 64, 30, 30]),
      // Above the parallel threshold, merging into one run: split across threads within it.
      ([1, 8, 70, 70], [1, 8, 70, 70]), ([3, 40_000], []), ([], [40_000]),
    ]
    for (sa, sb) in pairs {
      let a = rng.tensor(sa), b = rng.tensor(sb)
      for op in [BinaryOp.add, .sub, .mul, .div] {
        let expected = referenceBroadcast(a, b, op)!
        XCTAssertEqual(Kernels.broadcastShape(sa, sb), expected.shape)
        assertClose(Kernels.broadcast(a, b, op), expected, rtol: 1e-6, "\(sa) \(op) \(sb)")
      }
    }
  }

  func testBroadcastShapeRejectsIncompatibleShapes() {
    XCTAssertNil(Kernels.broadcastShape([2, 3], [4]))
    XCTAssertNil(Kernels.broadcastShape([2, 3, 4], [3, 1, 2]))
    XCTAssertNil(Kernels.broadcastShape([0], [2]))
    XCTAssertEqual(Kernels.broadcastShape([0], [1]), [0])
    XCTAssertEqual(Kernels.broadcastShape([3, 1, 5], [4, 1]), [3, 4, 5])
  }
}
