import ArgumentParser
import Relevance
struct Inspect: ParsableCommand {
  @Argument var model: String
  func run() throws {}
}
