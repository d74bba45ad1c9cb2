"""Operating the pipeline: nightly schedule, new-export sensor, query listings for the sites."""
