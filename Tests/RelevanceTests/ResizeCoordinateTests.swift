import XCTest
@testable import Relevance

/// Resize by scales where the ONNX specification (resized length in · scale, fractional) and
/// onnxruntime/PyTorch (the integer output length) place the coordinates differently is refused;
/// scales that give whole lengths run, and match bilinear align_corners written out here.
final class ResizeCoordinateTests: XCTestCase {
  func canonical(_ coordinates: Resize2D.Coordinates, scales: [Float], inputShape: [Int] = [1, 1, 2, 4]) throws -> Graph {
    let node = Node(name: "up", op: .resize(Resize2D(mode: .linear, coordinates: coordinates, rounding: .roundPreferFloor)),
                    inputs: ["x", "scales"], outputs: ["y"], sourceOpType: "Resize")
    let graph = Graph(name: "t", source: "resize.onnx", input: "x", declaredInputShape: inputShape.map { .fixed($0) },
                      outputs: ["y"], nodes: [node], constants: ["scales": Constant(shape: [4], floats: scales)],
                      opsetVersion: 19, producer: "test")
    return try Canonicalizer.canonicalize(graph, inputShape: inputShape)
  }

  func testFractionalLengthsAreRefusedWhereConventionsDiffer() {
    // ONNX's test_resize_downsample_scales_linear_align_corners: 4 × 0.6 = 2.4, output width 2.
    assertContains(message { try self.canonical(.alignCorners, scales: [1, 1, 0.6, 0.6]) },
                   ["up", "align_corners", "fractional output length", "2.4", "sizes"])
    // pytorch_half_pixel tests length_resized > 1: 2 × 0.6 = 1.2 against an output height of 1.
    assertContains(message { try self.canonical(.pytorchHalfPixel, scales: [1, 1, 0.6, 1]) },
                   ["up", "pytorch_half_pixel", "1.2"])
    // half_pixel reads only the scale: both conventions agree.
    XCTAssertNoThrow(try canonical(.halfPixel, scales: [1, 1, 0.6, 0.6]))
  }

  func testWholeLengthsRunAsBilinearAlignCorners() throws {
    let graph = try canonical(.alignCorners, scales: [1, 1, 1.5, 1.75])
    let x = Tensor(shape: [1, 1, 2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8])
    let y = try XCTUnwrap(try ForwardPlan(graph: graph).run(x)["y"])
    XCTAssertEqual(y.shape, [1, 1, 3, 7])
    var expected: [Float] = []
    for i in 0..<3 {
      for j in 0..<7 {
        let r = Double(i) * 1 / 2, c = Double(j) * 3 / 6  // (in − 1) / (out − 1)
        let r0 = Int(r), c0 = Int(c), r1 = min(r0 + 1, 1), c1 = min(c0 + 1, 3)
        let (fr, fc) = (r - Double(r0), c - Double(c0))
        func v(_ a: Int, _ b: Int) -> Double { Double(x.data[a * 4 + b]) }
        expected.append(Float((1 - fr) * ((1 - fc) * v(r0, c0) + fc * v(r0, c1)) + fr * ((1 - fc) * v(r1, c0) + fc * v(r1, c1))))
      }
    }
    XCTAssertLessThan(relativeError(y.data, expected), 1e-6)
  }
}
