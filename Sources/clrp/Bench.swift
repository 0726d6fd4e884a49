import ArgumentParser
import Relevance
struct Bench: ParsableCommand {
  @Argument var model: String
  func run() throws {}
}
