import XCTest
import TensorKernels

/// `Kernels.layerNorm` against the ONNX formula written out in double precision.
final class LayerNormTests: XCTestCase {
  func testMatchesTheFormulaOnEveryAxis() {
    let shape = [2, 3, 4, 5]
    var state: UInt64 = 3
    let data = (0..<shape.reduce(1, *)).map { _ -> Float in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float((state >> 40) % 2001) / 250 - 4
    }
    let x = Tensor(shape: shape, data: data)
    for axis in 0..<4 {
      let inner = shape[axis...].reduce(1, *)
      let scale = (0..<inner).map { Float($0 % 7) * 0.3 - 0.8 }, bias = (0..<inner).map { Float($0 % 5) * 0.1 }
      for (s, b) in [(scale, Optional(bias)), ([Float(1.5)], nil)] {
        let y = Kernels.layerNorm(x, axis: axis, epsilon: 1e-5, scale: s, bias: b)
        for o in 0..<(x.count / inner) {
          let slice = (0..<inner).map { Double(data[o * inner + $0]) }
          let mean = slice.reduce(0, +) / Double(inner)
          let variance = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(inner)
          for i in 0..<inner {
            let expected = (slice[i] - mean) / (variance + 1e-5).squareRoot() * Double(s.count == 1 ? s[0] : s[i])
              + (b.map { Double($0[i]) } ?? 0)
            XCTAssertEqual(Double(y.data[o * inner + i]), expected, accuracy: 1e-5, "axis \(axis)")
          }
        }
      }
    }
  }
}
