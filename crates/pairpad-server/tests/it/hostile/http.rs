//! Hostile input over HTTP: request shapes, origins, rate of room creation.
