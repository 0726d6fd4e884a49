import Foundation
import XCTest
@testable import Relevance

/// Every registered activation against the ONNX formulas written independently in double
/// precision (`referenceActivation`): values, and derivatives against central finite differences.
final class ActivationTests: XCTestCase {
  /// One instance per registered activation, with non-default parameters where it has any.
  static let instances: [Activation] = [
    Activation(Relu()), Activation(LeakyRelu(alpha: 0.1)), Activation(Clip(low: -0.5, high: 0.8)),
    Activation(Clip(low: 0, high: 6)), Activation(Sigmoid()), Activation(HardSigmoid(alpha: 0.2, beta: 0.5)),
    Activation(HardSigmoid(alpha: 1 / 6, beta: 0.5)), Activation(HardSwish()), Activation(Tanh()),
    Activation(SiLU()), Activation(GELU(tanhApproximation: false)), Activation(GELU(tanhApproximation: true)),
    Activation(Erf()), Activation(Softplus()), Activation(Softsign()), Activation(Elu(alpha: 1)), Activation(Elu(alpha: 0.3)),
    Activation(Selu(alpha: 1.67326319217681884765625, gamma: 1.05070102214813232421875)), Activation(Mish()),
    Activation(ThresholdedRelu(alpha: 1)), Activation(ThresholdedRelu(alpha: -0.5)),
    Activation(Pow(exponent: 3)), Activation(Pow(exponent: 2)), Activation(Pow(exponent: 1)),
  ]

  static let points: [Float] = stride(from: -7, through: 7, by: 0.037).map { Float($0) }

  func testEveryRegisteredActivationIsTested() {
    XCTAssertEqual(Set(Self.instances.map(\.name)), Set(ActivationRegistry.opNames))
    XCTAssertEqual(Set(ActivationRegistry.opNames).count, ActivationRegistry.all.count, "op names must be unique")
    for name in ActivationRegistry.onnxNames {
      XCTAssertTrue(ONNXImporter.supportedOperators.contains(name), name)
      XCTAssertTrue(RuleSet.opNames.contains(ActivationRegistry.type(onnx: name)!.opName), name)
    }
  }

  func testForwardKernelMatchesTheONNXFormula() throws {
    let x = Tensor(shape: [1, Self.points.count], data: Self.points)
    for a in Self.instances {
      let f = try XCTUnwrap(referenceActivation(a), a.description)
      let y = a.function.forward(x)
      for (i, v) in Self.points.enumerated() {
        let expected = f(Double(v))
        XCTAssertEqual(Double(y.data[i]), expected, accuracy: 2e-6 * max(1, abs(expected)), "\(a) at \(v)")
      }
    }
  }

  func testDerivativeMatchesFiniteDifferences() throws {
    for a in Self.instances {
      let f = try XCTUnwrap(referenceActivation(a), a.description)
      let h = 1e-5
      for v in Self.points {
        let x = Double(v)
        let numeric = (f(x + h) - f(x - h)) / (2 * h)
        // Away from kinks both one-sided differences agree; at a kink the derivative is a choice.
        let left = (f(x) - f(x - h)) / h, right = (f(x + h) - f(x)) / h
        guard abs(left - right) < 1e-3 else { continue }
        XCTAssertEqual(Double(a.function.derivative(v)), numeric, accuracy: 1e-4 * max(1, abs(numeric)), "\(a) at \(v)")
      }
    }
  }

  func testOutputBoundsHold() {
    for a in Self.instances {
      let bounds = a.function.outputBounds
      for v in Self.points + [-1e4, 1e4] {
        let y = a.function.value(v)
        XCTAssertTrue(y >= bounds.lowerBound - 1e-6 && y <= bounds.upperBound + 1e-6, "\(a)(\(v)) = \(y) outside \(bounds)")
      }
    }
    XCTAssertTrue(Activation(Sigmoid()).isUnitInterval)
    XCTAssertTrue(Activation(HardSigmoid(alpha: 0.2, beta: 0.5)).outputIsNonNegative)
    XCTAssertFalse(Activation(HardSwish()).outputIsNonNegative)
    XCTAssertFalse(Activation(Tanh()).outputIsNonNegative)
  }
}
