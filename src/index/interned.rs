//! Strings numbered in order of arrival, for the dictionaries that hold millions of them (term
//! dictionaries, the ids of a collection's keys, the indicators' facts).

fn text_hash(text: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(text)
}

/// Strings numbered in order of arrival, back to back in one arena, with a hash table of their
/// numbers for lookups by text: a few bytes per string beyond its text, where a map of `Arc<str>`
/// keys cost a node or bucket slot, a pointer and an allocation per string.
#[derive(Default, Clone)]
pub struct Interned {
    arena: String,
    /// End of each string in `arena`; a string starts where the previous one ends.
    ends: Vec<usize>,
    by_text: hashbrown::HashTable<u32>,
}

impl Interned {
    pub fn get(&self, text: &str) -> Option<u32> {
        self.by_text.find(text_hash(text), |id| self.text(*id) == text).copied()
    }

    /// Number `text`, known to be absent.
    pub fn push(&mut self, text: &str) -> u32 {
        let id = self.ends.len() as u32;
        self.arena.push_str(text);
        self.ends.push(self.arena.len());
        let (arena, ends) = (&self.arena, &self.ends);
        self.by_text.insert_unique(text_hash(text), id, |other| text_hash(text_in(arena, ends, *other)));
        id
    }

    pub fn text(&self, id: u32) -> &str {
        text_in(&self.arena, &self.ends, id)
    }

    /// The string numbered `id`, if there is one.
    pub fn try_text(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.ends.len()).then(|| self.text(id))
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The number of `text`, given one if new.
    pub fn intern(&mut self, text: &str) -> u32 {
        match self.get(text) {
            Some(id) => id,
            None => self.push(text),
        }
    }

    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
        let (arena, ends) = (&self.arena, &self.ends);
        self.by_text.shrink_to_fit(|id| text_hash(text_in(arena, ends, *id)));
    }

    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.by_text.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

fn text_in<'a>(arena: &'a str, ends: &[usize], id: u32) -> &'a str {
    let index = id as usize;
    let start = if index == 0 { 0 } else { ends.get(index - 1).copied().unwrap_or(0) };
    let end = ends.get(index).copied().unwrap_or(start);
    arena.get(start..end).unwrap_or("")
}
