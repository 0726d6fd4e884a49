import XCTest
@testable import Relevance

/// Initial relevance anywhere: K signals in one batch equal K separate runs; a neuron or
/// channel inside the network can be explained; bad targets are clear errors.
final class RelevanceSignalTests: XCTestCase {
  func paperPlan(_ name: String) throws -> (RelevancePlan, Tensor) {
    let model = try Model(path: Fixtures.path("models/\(name).onnx"))
    let input = try NPY.read(path: Fixtures.path("relevance/\(name).input.npy"))
    let graph = try model.canonical(inputShape: input.shape)
    let rules = try RuleSet.load(nameOrPath: "paper").assign(to: graph, preprocessing: .imagenet).rules
    return (try RelevancePlan(graph: graph, rules: rules), input)
  }

  func testBatchedSignalsEqualSeparateRuns() throws {
    let (plan, input) = try paperPlan("googlenet_small")
    let batched = try plan.explain(input, classes: [0, 4, 7]).input
    let per = batched.count / 3
    for (k, c) in [0, 4, 7].enumerated() {
      let single = try plan.explain(input, classes: [c]).input
      XCTAssertLessThan(relativeError(Array(batched.data[(k * per)..<((k + 1) * per)]), single.data), 1e-6)
    }
  }

  func testIntermediateChannelConservesAndDiffersFromItsNeighbour() throws {
    let (plan, input) = try paperPlan("vgg16_small")
    // The output of the 7th conv's ReLU: explain channel 3 and channel 4 (all positions).
    let convs = plan.graph.nodes.filter { if case .conv = $0.op { return true }; return false }
    let reluOutput = plan.graph.nodes.first { $0.op == .relu && $0.inputs[0] == convs[6].output }!.output
    let activation = try plan.forward.run(input, keep: [reluOutput])[reluOutput]!
    let shape = activation.shape, spatial = shape[2] * shape[3]
    var signals = [Float](repeating: 0, count: 2 * activation.count)
    for (k, channel) in [3, 4].enumerated() {
      for i in 0..<spatial { signals[k * activation.count + channel * spatial + i] = activation.data[channel * spatial + i] }
    }
    let result = try plan.explain(input, signals: Tensor(shape: [2] + shape.dropFirst(), data: signals), at: reluOutput)
    let started = result.layers.first!.outputSums
    let sums = result.input.signalSums(2)
    for k in 0..<2 where started[k] > 0 {
      XCTAssertEqual(sums[k], started[k], accuracy: 1e-4 * started[k])
    }
    XCTAssertLessThan(cosineSimilarity(Array(result.input.data[0..<input.count]), Array(result.input.data[input.count...])), 0.99)
    // Only nodes upstream of the start took part.
    XCTAssertFalse(result.layers.contains { $0.op == "Dense" })
  }

  func testBadTargetsAreClearErrors() throws {
    let (plan, input) = try paperPlan("alexnet_small")
    XCTAssertThrowsError(try plan.explain(input, classes: [10])) { error in
      XCTAssertTrue("\(error)".contains("class 10 is out of range"), "\(error)")
    }
    XCTAssertThrowsError(try plan.explain(input, signals: Tensor(zeros: [1, 7]), at: plan.graph.outputs[0])) { error in
      XCTAssertTrue("\(error)".contains("do not match"), "\(error)")
    }
    XCTAssertThrowsError(try plan.explain(input, signals: Tensor(zeros: [1, 10]), at: "no such value")) { error in
      XCTAssertTrue("\(error)".contains("not computed"), "\(error)")
    }
    XCTAssertThrowsError(try plan.explain(Tensor(zeros: [1, 3, 8, 8]), classes: [0])) { error in
      XCTAssertTrue("\(error)".contains("compiled for"), "\(error)")
    }
  }

  func testRuleOnAnOpItCannotServeIsAnError() throws {
    let model = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    let graph = try model.canonical(inputShape: model.inputShape(batch: 1))
    let rules: [Rule?] = graph.nodes.map { node in
      switch node.op {
      case .conv, .dense, .maxPool: return .linear(LinearRule(.zPlus))
      case .avgPool: return .proportional
      default: return .pass
      }
    }
    XCTAssertThrowsError(try RelevancePlan(graph: graph, rules: rules)) { error in
      XCTAssertTrue("\(error)".contains("cannot serve a MaxPool"), "\(error)")
    }
  }
}

/// Large dense layers build their modified weights block by block: same relevance.
final class DenseBlockTests: XCTestCase {
  func testBlockedDenseLayersGiveTheSameRelevance() throws {
    let model = try Model(path: Fixtures.path("models/vgg16_small.onnx"))
    let input = try NPY.read(path: Fixtures.path("relevance/vgg16_small.input.npy"))
    let graph = try model.canonical(inputShape: input.shape)
    for preset in ["paper", "epsilon", "alpha2beta1", "gradient"] {
      let rules = try RuleSet.load(nameOrPath: preset).assign(to: graph, preprocessing: .imagenet).rules
      let stored = try RelevancePlan(graph: graph, rules: rules).explain(input, classes: [2, 5]).input
      let blocked = try RelevancePlan(graph: graph, rules: rules, denseBlockThreshold: 0).explain(input, classes: [2, 5]).input
      XCTAssertLessThan(relativeError(blocked.data, stored.data), 1e-5, preset)
    }
  }
}
