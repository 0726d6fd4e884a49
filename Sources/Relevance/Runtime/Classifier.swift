import Foundation

/// Forward passes over a batch of single images (shape without the batch axis), one logits
/// vector per image. Images are run as one batch when the model allows it, one by one when
/// the model fixes its batch size. Forward plans are cached per input shape, so a classifier
/// kept alive (`clrp serve`) compiles once per shape.
public struct Classifier {
  public let model: Model
  private let plans = ForwardPlanCache()

  public init(model: Model) { self.model = model }

  /// One logits vector per image, and the canonical graph that computed them.
  public func logits(_ images: [Tensor]) throws -> (logits: [Tensor], graph: Graph?) {
    guard let first = images.first else { return ([], nil) }
    for image in images where image.shape != first.shape {
      throw ModelError(file: model.path, "inputs differ in shape: \(first.shape) and \(image.shape)")
    }
    let batch = model.fixedBatch ?? images.count
    guard batch == 1 || batch == images.count else {
      throw ModelError(file: model.path, "the model fixes its batch size to \(batch); got \(images.count) images")
    }
    let plan = try plans.plan(model, inputShape: [batch] + first.shape)
    var result: [Tensor] = []
    for start in stride(from: 0, to: images.count, by: batch) {
      let chunk = images[start..<(start + batch)]
      let input = Tensor(shape: [batch] + first.shape, data: chunk.flatMap(\.data))
      let out = try plan.run(input)[plan.graph.outputs[0]]!
      let per = out.count / batch
      for n in 0..<batch {
        result.append(Tensor(shape: [per], data: Array(out.data[(n * per)..<((n + 1) * per)])))
      }
    }
    return (result, plan.graph)
  }
}

/// Forward plans by input shape, shared by the copies of one `Classifier`.
private final class ForwardPlanCache: @unchecked Sendable {
  private let lock = NSLock()
  private var plans: [[Int]: ForwardPlan] = [:]

  func plan(_ model: Model, inputShape shape: [Int]) throws -> ForwardPlan {
    if let plan = lock.withLock({ plans[shape] }) { return plan }
    let plan = try model.forwardPlan(inputShape: shape)
    lock.withLock { plans[shape] = plan }
    return plan
  }
}
