def transitions(*a, **k): raise NotImplementedError
