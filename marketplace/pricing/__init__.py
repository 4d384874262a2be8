"""The Union's fair-price policy: floor prices per season and premiums by grade."""
