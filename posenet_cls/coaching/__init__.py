"""On top of predictions: joint angles, repetition counters and hold timers, exercises, form hints."""
