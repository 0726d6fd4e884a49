import XCTest
import TensorKernels

final class ElementwiseTests: XCTestCase {
  func testReluLeakyReluClip() {
    var rng = SplitMix64(seed: 20)
    let x = rng.tensor([2, 3, 4, 5], scale: 3)
    XCTAssertEqual(Kernels.relu(x).data, x.data.map { Swift.max($0, 0) })
    XCTAssertEqual(Kernels.leakyRelu(x, alpha: 0.1).data, x.data.map { $0 >= 0 ? $0 : 0.1 * $0 })
    XCTAssertEqual(Kernels.clip(x, min: -1, max: 0.5).data, x.data.map { Swift.min(Swift.max($0, -1), 0.5) })
    XCTAssertEqual(Kernels.clip(x, min: nil, max: 0.5).data, x.data.map { Swift.min($0, 0.5) })
    XCTAssertEqual(Kernels.clip(x, min: -0.25, max: nil).data, x.data.map { Swift.max($0, -0.25) })
    XCTAssertEqual(Kernels.clip(x, min: nil, max: nil).data, x.data)
    XCTAssertEqual(Kernels.relu(x).shape, x.shape)
  }

  func testUnaryKernelsLeaveTheirArgumentUntouched() {
    var rng = SplitMix64(seed: 21)
    let x = rng.tensor([300, 400])
    let copy = x
    _ = Kernels.relu(x)
    _ = Kernels.channelAffine(x, scale: rng.floats(400), shift: rng.floats(400))
    XCTAssertEqual(x, copy)
  }

  func testLargeReluMatchesReference() {
    var rng = SplitMix64(seed: 22)
    let x = rng.tensor([1, 64, 40, 40])
    let expected = x.data.map { Swift.max($0, 0) }
    XCTAssertEqual(Kernels.relu(x).data, expected)
  }

  func testChannelAffine() {
    var rng = SplitMix64(seed: 23)
    for shape in [[3, 4], [2, 5, 7], [2, 3, 4, 5], [1, 6, 2, 2, 3]] {
      let x = rng.tensor(shape), c = shape[1]
      let scale = rng.floats(c), shift = rng.floats(c)
      let inner = shape.dropFirst(2).reduce(1, *)
      var values: [Double] = [], magnitude: [Double] = []
      for (i, v) in x.data.enumerated() {
        let ch = i / inner % c
        let p = Double(v) * Double(scale[ch])
        values.append(p + Double(shift[ch])); magnitude.append(abs(p) + abs(Double(shift[ch])))
      }
      assertClose(Kernels.channelAffine(x, scale: scale, shift: shift),
                  Reference(shape: shape, values: values, magnitude: magnitude), "\(shape)")
    }
  }

  func testSoftmaxAlongEveryAxis() {
    var rng = SplitMix64(seed: 24)
    let shape = [3, 4, 5]
    let x = rng.tensor(shape, scale: 6)
    for axis in [0, 1, 2, -1, -3] {
      let a = axis < 0 ? axis + 3 : axis
      var values = [Double](repeating: 0, count: x.count)
      for idx in allIndices(shape) {
        let st = strides(shape)
        let base = zip(idx, st).map { $0 * $1 }.reduce(0, +) - idx[a] * st[a]
        let row = (0..<shape[a]).map { Double(x.data[base + $0 * st[a]]) }
        let m = row.max()!
        let denominator = row.reduce(0.0) { $0 + Foundation.exp($1 - m) }
        values[base + idx[a] * st[a]] = Foundation.exp(row[idx[a]] - m) / denominator
      }
      assertClose(Kernels.softmax(x, axis: axis), Reference(shape: shape, values: values), "axis \(axis)")
    }
    let wide = rng.tensor([2, 1000], scale: 10)
    let y = Kernels.softmax(wide, axis: 1)
    for r in 0..<2 {
      let row = wide.data[(r * 1000)..<((r + 1) * 1000)].map(Double.init)
      let m = row.max()!
      let denominator = row.reduce(0.0) { $0 + Foundation.exp($1 - m) }
      assertClose(Tensor(shape: [1000], data: Array(y.data[(r * 1000)..<((r + 1) * 1000)])),
                  Reference(shape: [1000], values: row.map { Foundation.exp($0 - m) / denominator }), "1000 classes")
    }
  }

  func testLRNNearChannelEdges() {
    var rng = SplitMix64(seed: 25)
    for (shape, size, beta) in [([2, 7, 3, 4], 5, Float(0.75)), ([1, 6, 2, 3], 4, 0.6), ([1, 3, 2, 2], 7, 0.75),
                                ([2, 5, 3], 1, 1.3), ([1, 8, 2, 2], 3, 0.5), ([1, 64, 13, 13], 5, 0.75)] {
      let x = rng.tensor(shape, scale: 2)
      let (alpha, bias): (Float, Float) = (1e-2, 1.5)
      let c = shape[1], inner = shape.dropFirst(2).reduce(1, *)
      var values: [Double] = []
      for (i, v) in x.data.enumerated() {
        let ch = i / inner % c, base = i - ch * inner
        var squares = 0.0
        let lower = ch - (size - 1) / 2
        let upper = ch + Int((Double(size - 1) / 2).rounded(.up))
        for other in lower...upper where other >= 0 && other < c {
          let u = Double(x.data[base + other * inner]); squares += u * u
        }
        values.append(Double(v) / Foundation.pow(Double(bias) + Double(alpha) / Double(size) * squares, Double(beta)))
      }
      assertClose(Kernels.lrn(x, size: size, alpha: alpha, beta: beta, bias: bias),
                  Reference(shape: shape, values: values), "LRN \(shape) size \(size) beta \(beta)")
    }
  }
}
