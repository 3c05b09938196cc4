"""The short soak (the long one: scripts/soak MINUTES)."""
import unittest

import soak


class ShortSoak(unittest.TestCase):
    def test_twenty_seconds_of_mixed_traffic(self):
        failures, counts = soak.run(20, 4)
        self.assertEqual(failures, [])
        self.assertGreater(counts["socket"], 100)
        self.assertGreater(counts["http"], 10)
        self.assertGreater(counts["events"], 10)


if __name__ == "__main__":
    unittest.main()
