import XCTest
@testable import Relevance

/// Property: rules without bias conserve relevance at every layer, on the AlexNet, VGG16 and
/// GoogLeNet topologies (the committed small fixtures: random weights) with random inputs.
final class ConservationTests: XCTestCase {
  struct Case {
    let name: String
    let linear: (Int) -> LinearRule  // by linear-layer index
    let maxPool: Rule
    let avgPool: Rule
    /// Alpha-beta conserves only where a neuron has both positive and negative contributions:
    /// where one kind is missing its denominator is 0, which the trace must then report.
    var leaksOnlyAtZeroDenominators = false
  }

  static let cases: [Case] = [
    Case(name: "zplus / winner-take-all / proportional", linear: { _ in LinearRule(.zPlus) }, maxPool: .winnerTakeAll, avgPool: .proportional),
    Case(name: "alpha2beta1 / proportional / uniform", linear: { _ in LinearRule(.alphaBeta(alpha: 2, beta: 1)) },
         maxPool: .proportional, avgPool: .uniform, leaksOnlyAtZeroDenominators: true),
    Case(name: "zbox first, zplus / winner-take-all / uniform",
         linear: { $0 == 0 ? LinearRule(.zBox(low: [-3], high: [3])) : LinearRule(.zPlus) }, maxPool: .winnerTakeAll, avgPool: .uniform),
    // w² and flat ignore activations, so they send relevance to dead ReLUs; as in practice they
    // serve the first layer, where nothing is below to lose it.
    Case(name: "wsquare first, zplus / winner-take-all / proportional",
         linear: { $0 == 0 ? LinearRule(.wSquare) : LinearRule(.zPlus) }, maxPool: .winnerTakeAll, avgPool: .proportional),
    Case(name: "flat first, zplus / proportional / proportional",
         linear: { $0 == 0 ? LinearRule(.flat) : LinearRule(.zPlus) }, maxPool: .proportional, avgPool: .proportional),
  ]

  func testEveryLayerConservesWithoutBias() throws {
    for model in ["alexnet_small", "vgg16_small", "googlenet_small"] {
      let m = try Model(path: Fixtures.path("models/\(model).onnx"))
      let shape = try m.inputShape(batch: 1)
      let graph = try m.canonical(inputShape: shape)
      var state: UInt64 = 99
      let input = Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 40) % 4001) / 2000 - 1
      })
      for c in Self.cases {
        var linearIndex = 0
        let rules: [Rule?] = graph.nodes.map { node in
          switch node.op {
          case .conv, .dense: defer { linearIndex += 1 }; return .linear(c.linear(linearIndex))
          case .maxPool: return c.maxPool
          case .avgPool, .globalAvgPool: return c.avgPool
          default: return .pass
          }
        }
        let plan = try RelevancePlan(graph: graph, rules: rules)
        let result = try plan.explain(input, classes: [0, 3])
        XCTAssertEqual(result.layers.count, graph.nodes.count)
        var leaked = false
        for layer in result.layers {
          for s in 0..<2 {
            let scale = max(abs(layer.outputSums[s]), 1e-6)
            let conserved = abs(layer.inputSums[s] - layer.outputSums[s]) / scale < 1e-4
            if c.leaksOnlyAtZeroDenominators && layer.zeroDenominators > 0 { leaked = leaked || !conserved; continue }
            XCTAssertTrue(conserved, "\(model) \(c.name): \(layer.node) (\(layer.op)) \(layer.outputSums[s]) → \(layer.inputSums[s])")
          }
        }
        let initial = result.layers.first!.outputSums
        let total = result.input.signalSums(2)
        for s in 0..<2 where !leaked {
          XCTAssertLessThan(abs(total[s] - initial[s]) / abs(initial[s]), 1e-4, "\(model) \(c.name) total")
        }
      }
    }
  }

  /// The test can fail: epsilon with bias leaks relevance into the biases.
  func testEpsilonWithBiasDoesNotConserve() throws {
    let m = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    let graph = try m.canonical(inputShape: m.inputShape(batch: 1))
    let rules: [Rule?] = graph.nodes.map { node in
      switch node.op {
      case .conv, .dense: return .linear(LinearRule(.epsilon(1e-6)))
      case .maxPool: return .winnerTakeAll
      case .avgPool, .globalAvgPool: return .proportional
      default: return .pass
      }
    }
    let input = try NPY.read(path: Fixtures.path("relevance/vgg16_small.input.npy"))
    let result = try RelevancePlan(graph: graph, rules: rules).explain(input, classes: [1])
    let leaks = result.layers.filter { abs($0.inputSums[0] - $0.outputSums[0]) > 1e-3 * abs($0.outputSums[0]) }
    XCTAssertFalse(leaks.isEmpty)
  }
}
