"""The Dagger lane: the module's main object (found through the `dagger.mod` entry point)."""

from pipeline.dagger_lane.main import FlamencoPipeline as FlamencoPipeline
